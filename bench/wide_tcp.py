#!/usr/bin/env python3
"""Wide TCP's width, in the network lab (root): ferry's direct TCP (FERRY_NO_UDP) between two public
hosts on 100 Mbit/s links with the round trip and loss of BENCH_SHAPES (default "200:10": 200 ms,
1 %; RTT ms:loss per mille), every lab host on CUBIC, moving BENCH_SIZE (100 MiB) on each number of
connections in BENCH_CONNECTIONS (default "1,4,8", set by FERRY_TCP_CONNECTIONS), next to iperf3
with BBR on as many connections (-P) for BENCH_IPERF_SECONDS (15) on the same link in the same run.
Prints each as a ratio to the link's rate and to iperf3; medians of BENCH_RUNS (3). The figures
behind session/pipe_race's one connection per 25 ms of round trip."""
import json
import os
import subprocess
import sys
import time

from benchlib import RUNS, median, random_file, tmpdir

import long_links as L
from lab import Lab, start_server  # noqa: E402  (long_links put tests/lab on the path)

CONNECTIONS = [int(x) for x in os.environ.get("BENCH_CONNECTIONS", "1,4,8").split(",")]
SHAPES = [tuple(int(x) for x in s.split(":")) for s in
          os.environ.get("BENCH_SHAPES", "200:10").split(",") if s]


def iperf3_bbr(lab, parallel):
    dst = lab.wan_ip["B"]
    srv = lab.spawn(lab.hosts["B"], ["iperf3", "-s", "-1", "-B", dst], stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    out = L.ns_run(lab.hosts["A"], ["iperf3", "-J", "-c", dst, "-t", L.IPERF_SECONDS, "-C", "bbr",
                                    "-P", parallel], L.IPERF_SECONDS + 60).stdout
    srv.wait(10)
    return json.loads(out)["end"]["sum_received"]["bits_per_second"] / 8e6


def main():
    if os.geteuid() != 0:
        sys.exit("wide_tcp.py builds network namespaces: run it as root")
    work = tmpdir()
    src = os.path.join(work, "file.bin")
    random_file(src, L.SIZE)
    for rtt, loss in SHAPES:
        link = 100 / 8.0
        ferry = {n: [] for n in CONNECTIONS}
        iperf = {n: [] for n in CONNECTIONS}
        with Lab("public", "public", loss_permille=loss, rate_mbit=100, delay_ms=rtt // 4) as lab:
            url = start_server(lab)
            for i in range(RUNS):
                for k, n in enumerate(CONNECTIONS):
                    env = {"FERRY_NO_UDP": "1", "FERRY_TCP_CONNECTIONS": str(n)}
                    got, _ = L.ferry_once(lab, url, src, work, "%d-acorn-zebra" % (100 + 10 * i + k),
                                          env, (), "tcp", False)
                    ferry[n].append(got)
                    iperf[n].append(iperf3_bbr(lab, n))
        print("== 100 Mbit/s, %d ms RTT, %s loss (link %.1f MB/s; %d MiB; medians of %d)"
              % (rtt, "%.0f %%" % (loss / 10) if loss else "no", link, L.SIZE >> 20, RUNS))
        for n in CONNECTIONS:
            ok = [x for x in ferry[n] if x is not None]
            m, ref = (median(ok) if ok else None), median(iperf[n])
            print("  %d connection%s: ferry %s MB/s (runs %s) -> %s of the link, %s of iperf3 BBR -P %d"
                  " (%.1f MB/s, runs %s)" % (
                      n, "" if n == 1 else "s", "%.1f" % m if m else "-", L.fmt(ferry[n]),
                      "%.2f" % (m / link) if m else "-", "%.2f" % (m / ref) if m else "-", n, ref,
                      L.fmt(iperf[n])))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
