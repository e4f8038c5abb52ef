#!/usr/bin/env python3
"""Issue 2 figure: time from `ferry receive` start to the first received byte on loopback (goal
<= 300 ms), median of BENCH_RUNS (default 10 here) runs. The first byte is the receiver's first
progress event, which it emits on the first chunk; the ratio is against the 300 ms goal."""
import os
import shutil

from benchlib import Server, median, random_file, tmpdir, transfer

RUNS = int(os.environ.get("BENCH_RUNS", "10"))


def main():
    work = tmpdir()
    try:
        src = os.path.join(work, "f.bin")
        random_file(src, 8 << 20)
        times, connected = [], []
        with Server() as srv:
            for i in range(RUNS):
                out = os.path.join(work, "out%d" % i)
                os.makedirs(out)
                events, _, _, _ = transfer(srv, src, out, "%d-acorn-zebra" % (700 + i))
                times.append(next(t for t, ev in events if ev["event"] == "progress") * 1000)
                connected.append(next(t for t, ev in events if ev["event"] == "connected") * 1000)
                shutil.rmtree(out)
        print("runs: %d" % RUNS)
        print("receive start -> connected ms:  %s" % ", ".join("%.0f" % x for x in connected))
        print("receive start -> first byte ms: %s" % ", ".join("%.0f" % x for x in times))
        print("median first byte: %.0f ms = %.2f of the 300 ms goal" % (median(times), median(times) / 300))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
