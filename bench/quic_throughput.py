#!/usr/bin/env python3
"""Issue 4's QUIC figures (medians of BENCH_RUNS runs; ferry with FERRY_NO_TCP=1 so the bytes go
over QUIC on the punched UDP socket):
 (b) on a 1 Gbit/s link in the network lab (tbf on both sides' links; needs root), QUIC throughput
     as a ratio to iperf3's TCP on the same link in the same run, moving the same number of bytes
     (`iperf3 -n`, so both include their ramp-up) (goal >= 0.9), and again with 1 % random loss
     (goal: at least iperf3's TCP under the same loss);
 (c) loopback QUIC throughput in MB/s, with ferry's direct TCP alongside for reference."""
import json
import os
import re
import shutil
import subprocess
import sys
import time

from benchlib import RUNS, Server, done_event, median, random_file, tmpdir, transfer, FERRY

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))
from lab import SERVER_IP, Lab, wait_tcp  # noqa: E402

LOOP_SIZE = int(os.environ.get("BENCH_SIZE", 512 << 20))
LAB_SIZE = int(os.environ.get("BENCH_LAB_SIZE", 256 << 20))
NO_TCP = dict(os.environ, FERRY_NO_TCP="1")


def loopback(work):
    src = os.path.join(work, "loop.bin")
    random_file(src, LOOP_SIZE)
    quic, tcp = [], []
    with Server() as srv:
        for i in range(RUNS):
            for label, results, env in (("quic", quic, NO_TCP), ("tcp", tcp, None)):
                out = os.path.join(work, "out-%s-%d" % (label, i))
                os.makedirs(out)
                events, _, _, _ = transfer(srv, src, out, "%d-acorn-zebra" % (600 + 2 * i + len(results)),
                                           env=env)
                connected = next(ev for _, ev in events if ev["event"] == "connected")
                assert connected["transport"] == label, connected
                done = done_event(events)
                results.append(done["bytes"] / done["seconds"] / 1e6)
                shutil.rmtree(out)
    os.remove(src)
    print("(c) loopback %d MiB: QUIC %.0f MB/s (runs %s); direct TCP %.0f MB/s -> QUIC/TCP %.2f"
          % (LOOP_SIZE >> 20, median(quic), ", ".join("%.0f" % x for x in quic), median(tcp),
             median(quic) / median(tcp)))


def wire_bytes(lab):
    """Bytes (with their Ethernet, IP and transport headers) the shaper has passed toward B."""
    out = subprocess.run(["ip", "netns", "exec", lab.inet, "tc", "-s", "qdisc", "show", "dev", "wB"],
                         capture_output=True, text=True, check=True).stdout
    return int(re.search(r"Sent (\d+) bytes", out).group(1))


def iperf3(lab, size):
    """iperf3's TCP moving the same number of bytes as the transfer, so both include ramp-up."""
    server_ip = lab.wan_ip["B"]
    srv = lab.spawn(lab.hosts["B"], ["iperf3", "-s", "-1", "-B", server_ip], stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    out = subprocess.run(["ip", "netns", "exec", lab.hosts["A"], "iperf3", "-J", "-c", server_ip,
                          "-n", str(size)], capture_output=True, text=True, timeout=120).stdout
    srv.wait(10)
    return json.loads(out)["end"]["sum_received"]["bits_per_second"] / 8e6


def ferry_over_lab(lab, src, out, code):
    url = "http://%s:4300" % SERVER_IP
    s = lab.spawn(lab.hosts["A"], [FERRY, "send", "--json", "--server", url, "--code", code, src],
                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=NO_TCP)
    assert json.loads(s.stdout.readline())["event"] == "code"
    r = subprocess.run(["ip", "netns", "exec", lab.hosts["B"], FERRY, "receive", "--json", "--yes",
                        "--server", url, "--output", out, code], capture_output=True, text=True,
                       timeout=300, env=NO_TCP)
    s.wait(30)
    events = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
    if r.returncode != 0:
        sys.exit("lab transfer failed: " + r.stderr)
    connected = next(ev for ev in events if ev["event"] == "connected")
    assert connected["transport"] == "quic", connected
    done = next(ev for ev in events if ev["event"] == "done")
    return done["bytes"] / done["seconds"] / 1e6


def lab_link(work, loss_permille):
    src = os.path.join(work, "lab.bin")
    random_file(src, LAB_SIZE)
    os.chmod(work, 0o755)
    tcp, quic = [], []
    wire = {"tcp": [], "quic": []}  # wire bytes per payload byte
    with Lab("public", "public", loss_permille=loss_permille, rate_mbit=1000) as lab:
        lab.spawn(lab.srv, [FERRY, "serve", "--listen", SERVER_IP + ":4300", "--public-url",
                             "http://%s:4300" % SERVER_IP], stdout=subprocess.DEVNULL,
                  stderr=subprocess.DEVNULL)
        wait_tcp(lab.srv, SERVER_IP, 4300)
        for i in range(RUNS):
            before = wire_bytes(lab)
            tcp.append(iperf3(lab, LAB_SIZE))
            wire["tcp"].append((wire_bytes(lab) - before) / LAB_SIZE)
            out = os.path.join(work, "lab-out-%d" % i)
            os.makedirs(out)
            before = wire_bytes(lab)
            quic.append(ferry_over_lab(lab, src, out, "%d-acorn-zebra" % (700 + i)))
            wire["quic"].append((wire_bytes(lab) - before) / LAB_SIZE)
            shutil.rmtree(out)
    os.remove(src)
    return median(tcp), median(quic), tcp, quic, median(wire["tcp"]), median(wire["quic"])


def main():
    work = tmpdir()
    try:
        loopback(work)
        if os.geteuid() != 0:
            print("(b) skipped: the 1 Gbit/s lab link needs root")
            return
        for loss, goal in ((0, 0.9), (10, 1.0)):
            tcp, quic, tcps, quics, tcp_wire, quic_wire = lab_link(work, loss)
            print("(b) 1 Gbit/s link, %s loss: QUIC %.1f MB/s (runs %s), iperf3 TCP %.1f MB/s (runs %s)"
                  " -> ratio %.2f (goal >= %.1f)" % (
                      "%.0f %%" % (loss / 10) if loss else "no", quic, ", ".join("%.0f" % x for x in quics),
                      tcp, ", ".join("%.0f" % x for x in tcps), quic / tcp, goal))
            # Headers and retransmissions: what each needs on the wire per byte moved, and how much
            # of the link each kept busy. The ratio's ceiling is TCP's wire cost over QUIC's.
            print("    wire bytes per byte moved (at the shaper toward the receiver): QUIC %.3f,"
                  " TCP %.3f -> ceiling of the ratio %.3f; link kept busy: QUIC %.0f %%, TCP %.0f %%" % (
                      quic_wire, tcp_wire, tcp_wire / quic_wire, quic * quic_wire * 8 / 10,
                      tcp * tcp_wire * 8 / 10))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
