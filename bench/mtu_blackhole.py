#!/usr/bin/env python3
"""Issue 39's black-hole figure, in the network lab (needs root): two cone NATs whose WAN links
carry 1280-byte packets the hosts behind them do not know of, on BENCH_RATE_MBIT (100) Mbit/s
links; the routers' ICMP "fragmentation needed" answered (the reference) and dropped (a PMTU
black hole), for direct TCP (FERRY_NO_UDP) and direct QUIC (FERRY_NO_TCP); and two symmetric NATs
whose hosts have IPv6 (direct TCP over IPv6, where routers never fragment: the connection is
given up and the next one asks for narrow segments). BENCH_SIZE bytes (32 MiB): MB/s over the
receiver's whole run (the file's size over the time from its start to its end, so a reconnection
counts), the receiver's own `done` rate (its last session only), and the time to the first byte,
medians of BENCH_RUNS (3). Goal: the black-holed link delivers at >= 0.8 of what the same link
does with working ICMP."""
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
    print("1280-byte WAN MTU, %d Mbit/s links, %s bytes, medians of %d runs" % (RATE, SIZE, RUNS))
    cases = (("tcp", "cone", False), ("quic", "cone", False), ("tcp", "symmetric", True))
    for transport, nat, ipv6 in cases:
        figures = {}
        for hole in (False, True):
            name = "bench-%s-%s%s-%s" % (nat, transport, "-v6" if ipv6 else "",
                                         "blackhole" if hole else "icmp")
            SCENARIOS[name] = Row(nat, nat, False, 0, "direct", name, 0, RATE, transport,
                                  ipv6=ipv6, mtu=1280, blackhole=hole)
            results = [run_scenario.run(name) for _ in range(RUNS)]
            # A run that did not deliver has no rate: the medians are of those that did.
            done = [r for r in results if r["delivered"]]
            whole = [int(SIZE) / r["total_s"] / 1e6 for r in done]
            rates = [r["mb_s"] for r in done if r["mb_s"] is not None]
            firsts = [r["first_byte_s"] for r in done if r["first_byte_s"] is not None]
            figures[hole] = tuple(median(v) if v else None for v in (whole, rates, firsts)) + (
                len(done),)
        label = "%s-%s %s" % (nat, nat, transport + ("/IPv6" if ipv6 else ""))
        for hole in (False, True):
            whole, rate, first, ok = figures[hole]
            print("%-22s %-13s %s MB/s whole run, %s MB/s last session, first byte %s s, "
                  "%d/%d delivered" % (label, "black hole:" if hole else "ICMP answered:",
                                       "-" if whole is None else "%.1f" % whole, rate, first, ok,
                                       RUNS))
        icmp, hole = figures[False][0], figures[True][0]
        print("%-22s ratio %s (whole run, goal >= 0.8)" % (
            label, "%.2f" % (hole / icmp) if hole and icmp else "-"))


if __name__ == "__main__":
    main()
