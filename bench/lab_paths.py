#!/usr/bin/env python3
"""Issue 4's figure (a) and its reliability goal, in the network lab (needs root): for each
docs/scenarios.md row, how long from the receiver's start to the first byte and to a direct path
(medians), and in how many runs the bytes went directly (packet counters in the internet
namespace). Goals: first byte <= 1 s everywhere; direct <= 3 s on cone-cone and <= 10 s on
cone-symmetric; cone-symmetric (and fullcone-symmetric) direct in >= 95 % of 20 runs.

BENCH_RUNS (default 5) runs per row; the two punching rows run BENCH_PUNCH_RUNS (default 20)."""
import os
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))
from run_scenario import run  # noqa: E402
from scenarios import SCENARIOS  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "5"))
PUNCH_RUNS = int(os.environ.get("BENCH_PUNCH_RUNS", "20"))
PUNCH_ROWS = ("fullcone-symmetric", "cone-symmetric")
DIRECT_GOAL = {"cone-cone": 3.0, "cone-symmetric": 10.0}


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def main():
    if os.geteuid() != 0:
        sys.exit("lab_paths.py builds network namespaces: run it as root")
    rows = sys.argv[1:] or list(SCENARIOS)
    print("%-20s %5s %-8s %14s %14s  %s" % ("row", "runs", "want", "first byte (s)", "direct at (s)",
                                            "runs on the wanted path"))
    worst_first = 0.0
    for name in rows:
        n = PUNCH_RUNS if name in PUNCH_ROWS else RUNS
        results = [run(name) for _ in range(n)]
        want = SCENARIOS[name].expected
        ok = sum(1 for r in results if r["delivered"] and r["path"] == want)
        first = median([r["first_byte_s"] for r in results])
        direct = median([r["direct_s"] for r in results])
        worst_first = max(worst_first, first or 0)
        goal = DIRECT_GOAL.get(name)
        print("%-20s %5d %-8s %14s %14s  %d/%d (%.0f %%)%s" % (
            name, n, want, "%.3f" % first if first is not None else "-",
            "%.3f" % direct if direct is not None else "-", ok, n, 100.0 * ok / n,
            "  direct goal %.0f s -> ratio %.3f" % (goal, direct / goal) if goal and direct else ""))
    print("first byte: worst row median %.3f s against the 1 s goal -> ratio %.2f"
          % (worst_first, worst_first / 1.0))


if __name__ == "__main__":
    main()
