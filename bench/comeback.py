#!/usr/bin/env python3
"""Issue 40's resume figure, on loopback (medians of BENCH_RUNS, 3): a receiver is killed
mid-transfer and the same `ferry receive CODE` is started again while the sender keeps its code;
the time from that restart to its first bytes, as a ratio to a fresh receiver's time from its
start to its first bytes in the same run (the reference: the same claim, PAKE and race). The file
is BENCH_SIZE bytes (1 GiB: the kill lands a quarter in); the received file is checked intact.
"""
import filecmp
import json
import os
import shutil
import signal
import subprocess
import sys
import time

from benchlib import FERRY, RUNS, Server, median, random_file, tmpdir

SIZE = int(os.environ.get("BENCH_SIZE", 1 << 30))


def first_bytes(proc, past=0):
    """Seconds until proc's first progress event beyond `past` bytes (None if it ended first)."""
    start = time.monotonic()
    for line in proc.stdout:
        ev = json.loads(line)
        if ev.get("event") == "progress" and ev["bytes"] > past:
            return time.monotonic() - start, ev["bytes"]
    return None, 0


def run(srv, src, out, code):
    s = subprocess.Popen([FERRY, "send", "--json", "--server", srv.url, "--code", code,
                          src],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    json.loads(s.stdout.readline())
    args = [FERRY, "receive", "--json", "--yes", "--server", srv.url, "--output", out, code]
    r = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    fresh, got = first_bytes(r)
    while got < SIZE // 4:
        _, got = first_bytes(r, got)
    r.send_signal(signal.SIGKILL)
    r.wait()
    time.sleep(0.5)  # the sender sees the break and takes its code back
    r = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    again, _ = first_bytes(r)
    r.stdout.read()
    if r.wait() != 0 or s.wait() != 0:
        sys.exit("the resumed transfer failed: " + s.stderr.read())
    got = os.path.join(out, os.path.basename(src))
    if not filecmp.cmp(src, got, shallow=False):
        sys.exit("%s differs from what was sent" % got)
    shutil.rmtree(out)
    return fresh, again


def main():
    base = tmpdir()
    try:
        src = os.path.join(base, "resume.bin")
        random_file(src, SIZE)
        fresh, again = [], []
        with Server(["--claims-per-minute", "100000"]) as srv:
            for i in range(RUNS):
                f, a = run(srv, src, os.path.join(base, "out"), "%d-acorn-zebra" % (300 + i))
                fresh.append(f)
                again.append(a)
        print("file: %d MiB, medians of %d runs" % (SIZE >> 20, RUNS))
        print("restart of a killed receiver -> bytes moving: %.3f s; a fresh receiver's start -> "
              "first bytes: %.3f s -> ratio %.2f" % (median(again), median(fresh),
                                                    median(again) / median(fresh)))
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
