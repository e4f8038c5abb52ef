"""Shared helpers for the benchmark scripts: the real ferry binary and server on loopback."""
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FERRY = os.environ.get("FERRY_BIN", os.path.join(ROOT, "build", "release", "src", "cli", "ferry"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))


class Server:
    def __init__(self, extra=()):
        self.extra = list(extra)

    def __enter__(self):
        self.proc = subprocess.Popen([FERRY, "serve", "--listen", "127.0.0.1:0"] + self.extra,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        m = re.search(r":(\d+)\s*$", self.proc.stdout.readline())
        self.url = "http://127.0.0.1:%s" % m.group(1)
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait()


def transfer(server, path, out_dir, code, send_extra=(), recv_extra=(), wrap=(), env=None):
    """One send/receive pair; returns (receiver events with arrival times, sender rc, receiver rc,
    seconds from receive start to exit, sender stderr, receiver stderr)."""
    os.sync()  # start every measured run on a quiet disk: no writeback left from the previous one
    s = subprocess.Popen(list(wrap) + [FERRY, "send", "--json", "--server", server.url, "--code", code]
                         + list(send_extra) + [path],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert json.loads(s.stdout.readline())["event"] == "code"
    start = time.monotonic()
    r = subprocess.Popen(list(wrap) + [FERRY, "receive", "--json", "--yes", "--server", server.url,
                          "--output", out_dir] + list(recv_extra) + [code],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    events = []
    for line in r.stdout:
        events.append((time.monotonic() - start, json.loads(line)))
    r.wait()
    elapsed = time.monotonic() - start
    _, s_err = s.communicate()
    r_err = r.stderr.read()
    if s.returncode != 0 or r.returncode != 0:
        sys.exit("transfer failed: %s %s" % (s_err, r_err))
    return events, elapsed, s_err, r_err


def done_event(events):
    return next(ev for _, ev in events if ev["event"] == "done")


def median(xs):
    return statistics.median(xs)


def tmpdir():
    return tempfile.mkdtemp(prefix="ferry-bench-", dir=os.environ.get("BENCH_TMP", "/tmp"))


def random_file(path, size):
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 1 << 20)
            f.write(os.urandom(n))
            left -= n
