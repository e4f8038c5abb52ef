#!/usr/bin/env python3
"""How long a receive that cannot work takes to say so (issue 5: goal <= 15 s on both sides).

Runs in the network lab (needs root): both peers behind symmetric NATs, and the server started
with --no-relay, so no path exists at all. Measures, from the receiver's start, when each side
exits and checks that both exit with no_path and a list of what was tried. Median of BENCH_RUNS."""
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))
from lab import SERVER_IP, Lab, wait_tcp  # noqa: E402

FERRY = os.environ.get("FERRY_BIN", os.path.join(ROOT, "build", "release", "src", "cli", "ferry"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
GOAL = 15.0


def one_run(lab, i):
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
    times, outcomes = {}, {}
    procs = {"receiver": receiver, "sender": sender}
    while len(times) < 2 and time.monotonic() - start < 60:
        for name, p in procs.items():
            if name not in times and p.poll() is not None:
                times[name] = time.monotonic() - start
                err = p.stderr.read()
                events = [json.loads(l) for l in p.stdout.read().splitlines() if l.strip()]
                error = next((e for e in events if e["event"] == "error"), {})
                outcomes[name] = (p.returncode, error.get("code"), err.strip())
        time.sleep(0.02)
    for p in procs.values():
        if p.poll() is None:
            p.kill()
    return times, outcomes


def main():
    if os.geteuid() != 0:
        sys.exit("failing_receive.py builds network namespaces: run it as root")
    receiver_s, sender_s = [], []
    last = None
    with Lab("symmetric", "symmetric") as lab:
        lab.spawn(lab.inet, [FERRY, "serve", "--no-relay", "--listen", SERVER_IP + ":4300",
                             "--public-url", "http://%s:4300" % SERVER_IP],
                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_tcp(lab.inet, SERVER_IP, 4300)
        for i in range(RUNS):
            times, outcomes = one_run(lab, i)
            for name in ("receiver", "sender"):
                rc, code, _ = outcomes.get(name, (None, None, ""))
                if rc != 8 or code != "no_path":
                    sys.exit("run %d: the %s did not fail with no_path: %r" % (i, name, outcomes.get(name)))
            receiver_s.append(times["receiver"])
            sender_s.append(times["sender"])
            last = outcomes
    print("what the receiver printed (last run):\n  " + last["receiver"][2].replace("\n", "\n  "))
    print("what the sender printed (last run):\n  " + last["sender"][2].replace("\n", "\n  "))
    r, s = statistics.median(receiver_s), statistics.median(sender_s)
    print("failing receive (symmetric-symmetric, no relay), median of %d: receiver reports after "
          "%.1f s, sender after %.1f s; goal %.0f s -> ratio %.2f / %.2f (<= 1 meets it)"
          % (RUNS, r, s, GOAL, r / GOAL, s / GOAL))


if __name__ == "__main__":
    main()
