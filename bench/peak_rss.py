#!/usr/bin/env python3
"""Issue 2 figure: peak RSS of sender and receiver for a 4 GiB file (goal <= 64 MB each), medians of
BENCH_RUNS runs, measured by GNU time. The file is sparse: content does not change memory use."""
import os
import re
import shutil
import subprocess

from benchlib import RUNS, Server, median, tmpdir, transfer

SIZE = int(os.environ.get("BENCH_SIZE", 4 << 30))


def peak_kb(stderr):
    return int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr).group(1))


def main():
    work = tmpdir()
    try:
        src = os.path.join(work, "huge.bin")
        with open(src, "wb") as f:
            f.truncate(SIZE)
        senders, receivers = [], []
        with Server() as srv:
            for i in range(RUNS):
                out = os.path.join(work, "out%d" % i)
                os.makedirs(out)
                _, _, s_err, r_err = transfer(srv, src, out, "%d-acorn-zebra" % (600 + i), wrap=["/usr/bin/time", "-v"])
                senders.append(peak_kb(s_err) / 1000)
                receivers.append(peak_kb(r_err) / 1000)
                shutil.rmtree(out)
        print("runs: %d, file: %d MiB" % (RUNS, SIZE >> 20))
        print("sender peak RSS MB:   %s" % ", ".join("%.1f" % x for x in senders))
        print("receiver peak RSS MB: %s" % ", ".join("%.1f" % x for x in receivers))
        print("median sender:   %.1f MB = %.2f of the 64 MB budget" % (median(senders), median(senders) / 64))
        print("median receiver: %.1f MB = %.2f of the 64 MB budget" % (median(receivers), median(receivers) / 64))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
