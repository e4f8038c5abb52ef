#!/usr/bin/env python3
"""Issue 40's group-send figures, on loopback (medians of BENCH_RUNS, 3):
  - BENCH_RECEIVERS (10) receivers of one link at once (`ferry send --receivers N`), all checked
    intact: the sender's CPU-seconds per receiver-GB, as a ratio to one receiver's (a plain send
    of the same file in the same run; goal <= 1.0), and its peak RSS as a ratio to one receiver's;
  - the time from the first receiver's start until the last one is done, next to one receiver's.
The file is BENCH_SIZE bytes (128 MiB); every receiver writes its own copy.
"""
import filecmp
import json
import os
import shutil
import subprocess
import sys
import time

from benchlib import FERRY, RUNS, Server, median, random_file, tmpdir

SIZE = int(os.environ.get("BENCH_SIZE", 128 << 20))
RECEIVERS = int(os.environ.get("BENCH_RECEIVERS", "10"))


def group_run(srv, src, base, receivers):
    """One send to `receivers` receivers at once; returns (sender cpu s, sender max rss KiB, wall)."""
    os.sync()
    extra = ["--receivers", str(receivers)] if receivers > 1 else []
    s = subprocess.Popen([FERRY, "send", "--json", "--server", srv.url] + extra + [src],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    link = json.loads(s.stdout.readline())["link"]
    outs = []
    start = time.monotonic()
    procs = []
    for i in range(receivers):
        out = os.path.join(base, "r%d" % i)
        outs.append(out)
        procs.append(subprocess.Popen([FERRY, "receive", "--json", "--yes", "--server", srv.url,
                                       "--output", out, link],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    for p in procs:
        if p.wait() != 0:
            sys.exit("a receiver failed: " + p.stderr.read())
    wall = time.monotonic() - start
    s.stdout.read()
    _, status, usage = os.wait4(s.pid, 0)
    s.returncode = status
    if status != 0:
        sys.exit("the sender failed: " + s.stderr.read())
    for out in outs:
        got = os.path.join(out, os.path.basename(src))
        if not filecmp.cmp(src, got, shallow=False):
            sys.exit("%s differs from what was sent" % got)
        shutil.rmtree(out)
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss, wall


def main():
    base = tmpdir()
    try:
        src = os.path.join(base, "group.bin")
        random_file(src, SIZE)
        gb = SIZE / 1e9
        one_cpu, one_rss, one_wall, many_cpu, many_rss, many_wall = [], [], [], [], [], []
        # Every receiver here claims from 127.0.0.1: lift the per-address claim limit.
        with Server(["--claims-per-minute", "100000"]) as srv:
            for _ in range(RUNS):
                cpu, rss, wall = group_run(srv, src, base, 1)
                one_cpu.append(cpu / gb)
                one_rss.append(rss)
                one_wall.append(wall)
                cpu, rss, wall = group_run(srv, src, base, RECEIVERS)
                many_cpu.append(cpu / (gb * RECEIVERS))
                many_rss.append(rss)
                many_wall.append(wall)
        print("file: %d MiB, %d receivers, medians of %d runs" % (SIZE >> 20, RECEIVERS, RUNS))
        print("sender CPU per receiver-GB: %d receivers %.2f s, one receiver %.2f s -> ratio %.2f "
              "(goal <= 1.0)" % (RECEIVERS, median(many_cpu), median(one_cpu),
                                 median(many_cpu) / median(one_cpu)))
        print("sender peak RSS: %d receivers %.1f MiB, one receiver %.1f MiB -> ratio %.2f"
              % (RECEIVERS, median(many_rss) / 1024, median(one_rss) / 1024,
                 median(many_rss) / median(one_rss)))
        print("until the last receiver is done: %d receivers %.2f s, one receiver %.2f s -> ratio "
              "%.2f (%d times the bytes)" % (RECEIVERS, median(many_wall), median(one_wall),
                                              median(many_wall) / median(one_wall), RECEIVERS))
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
