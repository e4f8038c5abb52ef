#!/usr/bin/env python3
"""How long a receive that cannot work takes to say so (issue 5: goal <= 15 s on both sides).

Runs in the network lab (needs root), the row tests/lab/no_path.py asserts: both peers behind
symmetric NATs and the server started with --no-relay, so no path exists at all. Median, over
BENCH_RUNS attempts, of when each side exits after the receiver starts."""
import os
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))
from lab import Lab  # noqa: E402
from no_path import BOUND_S, attempt, check, start_server  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "3"))


def main():
    if os.geteuid() != 0:
        sys.exit("failing_receive.py builds network namespaces: run it as root")
    times = {"receiver": [], "sender": []}
    with Lab("symmetric", "symmetric") as lab:
        start_server(lab)
        for i in range(RUNS):
            out = attempt(lab, i)
            problems = check(out)
            if problems:
                sys.exit("run %d: %s" % (i, "; ".join(problems)))
            for side in times:
                times[side].append(out[side][0])
    r, s = statistics.median(times["receiver"]), statistics.median(times["sender"])
    print("failing receive (symmetric-symmetric, no relay), median of %d: receiver reports after "
          "%.1f s, sender after %.1f s; goal %.0f s -> ratio %.2f / %.2f (<= 1 meets it)"
          % (RUNS, r, s, BOUND_S, r / BOUND_S, s / BOUND_S))


if __name__ == "__main__":
    main()
