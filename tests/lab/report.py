#!/usr/bin/env python3
"""Prints the scenario table from run_scenario.py's JSON lines and fails when a row listed in
expected_pass.txt did not pass (or did not run)."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run_scenario import line, passed  # noqa: E402
from scenarios import SCENARIOS  # noqa: E402


def main():
    results_path, expected_path = sys.argv[1], sys.argv[2]
    results = {}
    if os.path.exists(results_path):
        with open(results_path) as f:
            for raw in f:
                r = json.loads(raw)
                results[r["scenario"]] = r
    with open(expected_path) as f:
        expected = [ln.strip() for ln in f if ln.strip() and not ln.startswith("#")]
    print("== lab scenario table (path decided from packet counters in the internet namespace)")
    bad = []
    for name in SCENARIOS:
        r = results.get(name)
        if r is None:
            print("%-20s did not run" % name)
        else:
            print(line(r) + ("" if passed(r) else "   [needs: %s]" % SCENARIOS[name].what))
        if name in expected and (r is None or not passed(r)):
            bad.append(name)
    ok = sum(1 for n in SCENARIOS if n in results and passed(results[n]))
    print("lab: %d of %d rows pass; rows promised so far (tests/lab/expected_pass.txt): %d, failing: %s"
          % (ok, len(SCENARIOS), len(expected), ", ".join(bad) or "none"))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
