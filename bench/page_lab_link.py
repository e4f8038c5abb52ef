#!/usr/bin/env python3
"""Pages over WebRTC on a shaped lab link (issue 36; root: network lab): two cone NATs, 100 Mbit/s
links (BENCH_RATE_MBIT) and 40 ms of round trip between the peers (BENCH_RTT_MS), CUBIC hosts.
Headless Chromium in the hosts' namespaces (tests/lab/browser_paths.py): the receive page takes
BENCH_SIZE (64 MiB) from the CLI and the send page sends it to the CLI, over the punched data
channel. Prints the CLI's own MB/s (its done event) as a ratio to the link's configured rate
(goal >= 0.8), and the CLI's direct path on the same link (CLI to CLI, no path forced) as the
reference measured in the same run. Medians of BENCH_RUNS (3)."""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))
import browser_paths  # noqa: E402
from lab import Lab, ferry, payload, root_or_skip, start_server  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
SIZE = int(os.environ.get("BENCH_SIZE", 64 << 20))
RATE = int(os.environ.get("BENCH_RATE_MBIT", "100"))
RTT = int(os.environ.get("BENCH_RTT_MS", "40"))
SHAPE = {"rate_mbit": RATE, "delay_ms": RTT // 4}


def median(xs):
    xs = sorted(x for x in xs if x is not None)
    return xs[len(xs) // 2] if xs else None


def cli_to_cli():
    """The CLI's own rate on the same link, no path forced."""
    with Lab("cone", "cone", **SHAPE) as lab:
        url = start_server(lab)
        src, out = payload(lab, SIZE)
        sender = ferry(lab, "A", ["send", "--json", "--server", url, src])
        code = json.loads(sender.stdout.readline())["code"]
        receiver = ferry(lab, "B", ["receive", "--json", "--yes", "--server", url, "--output", out, code])
        rate, transport = None, None
        for raw in receiver.stdout:
            e = json.loads(raw)
            if e["event"] == "connected":
                transport = e["transport"]
            if e["event"] == "done" and e["seconds"] > 0:
                rate = e["bytes"] / e["seconds"] / 1e6
        try:
            receiver.wait(120)
            sender.wait(120)
        except subprocess.TimeoutExpired:
            pass
        return rate, transport


def main():
    if not root_or_skip():
        return
    link = RATE / 8
    rows = {"CLI -> page": "cli-to-page/cone-cone", "page -> CLI": "page-to-cli/cone-cone"}
    got = {name: [] for name in rows}
    paths = {name: [] for name in rows}
    reference = []
    for _ in range(RUNS):
        for name, row in rows.items():
            r = browser_paths.run(row, size=SIZE, **SHAPE)
            got[name].append(r["cli_mb_s"] if r["path"] == "direct" else None)
            paths[name].append(r["path"] + ("" if not r["error"] else " (%s)" % r["error"][:80]))
        reference.append(cli_to_cli())
    print("%d MiB across two cone NATs, %d Mbit/s links (%.1f MB/s), %d ms RTT, medians of %d:"
          % (SIZE >> 20, RATE, link, RTT, RUNS))
    for name in rows:
        m = median(got[name])
        print("  %-12s %s MB/s  %s of the link (goal >= 0.8)   paths: %s" % (
            name, "-" if m is None else "%.2f" % m, "-" if m is None else "%.2f" % (m / link),
            ", ".join(paths[name])))
    ref = median([r for r, _ in reference])
    print("  %-12s %s MB/s  %s of the link   transports: %s" % (
        "CLI -> CLI", "-" if ref is None else "%.2f" % ref, "-" if ref is None else "%.2f" % (ref / link),
        ", ".join(str(t) for _, t in reference)))


if __name__ == "__main__":
    main()
