#!/usr/bin/env python3
"""The bounded-diagnosis row: both peers behind symmetric NATs and a server run with --no-relay,
so no path exists. Both sides must exit with no_path (status 8), list what was tried, and do so
within 15 s of the receiver's start (docs/scenarios.md). Exit 0 when that holds.
bench/failing_receive.py reports the same timings as a figure over several runs."""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lab import SERVER_IP, Lab, wait_tcp  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FERRY = os.environ.get("FERRY_BIN", os.path.join(ROOT, "build", "release", "src", "cli", "ferry"))
BOUND_S = 15.0


def start_server(lab):
    lab.spawn(lab.srv, [FERRY, "serve", "--no-relay", "--listen", SERVER_IP + ":4300",
                         "--public-url", "http://%s:4300" % SERVER_IP],
              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_tcp(lab.srv, SERVER_IP, 4300)


def attempt(lab, i):
    """One transfer that cannot work: {side: (seconds, exit status, error code, stderr)}."""
    url = "http://%s:4300" % SERVER_IP
    code = "%d-acorn-zebra" % (100 + i)
    src = os.path.join(lab.tmp, "payload.bin")
    with open(src, "wb") as f:
        f.write(os.urandom(1 << 20))
    sender = lab.spawn(lab.hosts["A"], [FERRY, "send", "--json", "--server", url, "--code", code, src],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert json.loads(sender.stdout.readline())["event"] == "code"
    start = time.monotonic()
    receiver = lab.spawn(lab.hosts["B"], [FERRY, "receive", "--json", "--yes", "--server", url,
                                          "--output", lab.tmp, code],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    procs = {"receiver": receiver, "sender": sender}
    out = {}
    while len(out) < 2 and time.monotonic() - start < 60:
        for side, p in procs.items():
            if side not in out and p.poll() is not None:
                events = [json.loads(l) for l in p.stdout.read().splitlines() if l.strip()]
                error = next((e for e in events if e["event"] == "error"), {})
                out[side] = (time.monotonic() - start, p.returncode, error.get("code"),
                             p.stderr.read().strip())
        time.sleep(0.02)
    for p in procs.values():
        if p.poll() is None:
            p.kill()
    return out


def check(out):
    """The problems with one attempt's outcome (empty when it is right)."""
    problems = []
    for side in ("receiver", "sender"):
        if side not in out:
            problems.append("the %s did not exit within 60 s" % side)
            continue
        seconds, rc, code, said = out[side]
        if rc != 8 or code != "no_path":
            problems.append("the %s exited %s (%s), not 8 (no_path): %s" % (side, rc, code, said))
        if "tried:" not in said.lower() or "ferry doctor" not in said:
            problems.append("the %s did not say what was tried and what to do: %s" % (side, said))
        if seconds > BOUND_S:
            problems.append("the %s took %.1f s (bound %.0f s)" % (side, seconds, BOUND_S))
    return problems


def main():
    with Lab("symmetric", "symmetric") as lab:
        start_server(lab)
        out = attempt(lab, 0)
    for side in ("receiver", "sender"):
        if side in out:
            print("%s after %.1f s, exit %s:\n  %s" % (side, out[side][0], out[side][1],
                                                      out[side][3].replace("\n", "\n  ")))
    problems = check(out)
    for p in problems:
        print("FAIL: " + p)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
