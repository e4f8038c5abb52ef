#!/usr/bin/env python3
"""Issue 39's black-hole figure, in the network lab (needs root): two cone NATs whose WAN links
carry 1280-byte packets the hosts behind them do not know of, on BENCH_RATE_MBIT (100) Mbit/s
links; the routers' ICMP "fragmentation needed" answered (the reference) and dropped (a PMTU
black hole), for direct TCP (FERRY_NO_UDP) and direct QUIC (FERRY_NO_TCP), BENCH_SIZE bytes
(32 MiB): MB/s (the receiver's `done`) and the time to the first byte, medians of BENCH_RUNS (3).
Goal: the black-holed link delivers at >= 0.8 of what the same link does with working ICMP."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))
import run_scenario  # noqa: E402
from scenarios import SCENARIOS, Row  # noqa: E402
sys.path.insert(0, os.path.join(ROOT, "bench"))
from benchlib import RUNS, median  # noqa: E402

RATE = int(os.environ.get("BENCH_RATE_MBIT", "100"))
SIZE = os.environ.get("BENCH_SIZE", str(32 << 20))


def main():
    if os.geteuid() != 0:
        sys.exit("mtu_blackhole.py builds network namespaces: run it as root")
    os.environ["LAB_FILE_BYTES"] = SIZE
    run_scenario.SIZE = SIZE
    print("cone-cone, 1280-byte WAN MTU, %d Mbit/s links, %s bytes, medians of %d runs" % (
        RATE, SIZE, RUNS))
    for transport in ("tcp", "quic"):
        figures = {}
        for hole in (False, True):
            name = "bench-%s-%s" % (transport, "blackhole" if hole else "icmp")
            SCENARIOS[name] = Row("cone", "cone", False, 0, "direct", name, 0, RATE, transport,
                                  mtu=1280, blackhole=hole)
            results = [run_scenario.run(name) for _ in range(RUNS)]
            # A run that did not deliver has no rate: the median is of those that did.
            rates = [r["mb_s"] for r in results if r["mb_s"] is not None]
            firsts = [r["first_byte_s"] for r in results if r["first_byte_s"] is not None]
            figures[hole] = (median(rates) if rates else None, median(firsts) if firsts else None,
                             sum(1 for r in results if r["delivered"]))
        (icmp, icmp_first, icmp_ok), (hole, hole_first, hole_ok) = figures[False], figures[True]
        ratio = "%.2f" % (hole / icmp) if hole and icmp else "-"
        print("%-4s ICMP answered: %s MB/s (first byte %s s, %d/%d delivered); black hole: %s MB/s "
              "(first byte %s s, %d/%d delivered) -> ratio %s (goal >= 0.8)" % (
                  transport, icmp, icmp_first, icmp_ok, RUNS, hole, hole_first, hole_ok, RUNS, ratio))


if __name__ == "__main__":
    main()
