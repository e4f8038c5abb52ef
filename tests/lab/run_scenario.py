#!/usr/bin/env python3
"""Runs one docs/scenarios.md row in the lab: sends a file A -> B with the real ferry binary, checks the
bytes, decides the path from packet counters in the internet namespace, and reports one line
(and --json). Exit 0 when the row's expected outcome holds, 1 when it does not."""
import argparse
import filecmp
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lab import Lab, ferry, payload, root_or_skip, start_server  # noqa: E402
from scenarios import SCENARIOS, forced_env  # noqa: E402

# 16 MiB; 4 MiB on the 100 Mbit/s rows, which check the path, not the speed (bench/long_links.py).
SIZE = os.environ.get("LAB_FILE_BYTES")
TIMEOUT = 60


def classify(delivered, counters, size):
    """The path, from the internet namespace's counters only."""
    if not delivered:
        return "none"
    server = counters.get("server", 0)
    if server >= size // 2:
        return "relay"
    if server < size // 5:
        return "direct"
    return "mixed"


def run(name):
    row = SCENARIOS[name]
    result = {"scenario": name, "expected": row.expected, "delivered": False, "path": "none",
              "ferry_path": None, "agrees": None, "first_byte_s": None, "total_s": None,
              "mb_s": None, "server_bytes": None, "direct_bytes": None, "error": None,
              "transport": None, "want_transport": row.transport, "direct_s": None, "moved": False,
              "peer": None, "want_ipv6": row.ipv6, "connections": None,
              # Wide TCP: a direct TCP pipe over a long path is one connection per 25 ms of round
              # trip, at most 8 (docs/protocol.md).
              "want_connections": (min(8, -(-row.rtt_ms // 25))
                                   if row.transport == "tcp" and row.rtt_ms else None)}
    with Lab(row.a, row.b, samelan=row.samelan, loss_permille=row.loss, rate_mbit=row.rate_mbit,
             delay_ms=row.rtt_ms // 4, ipv6=row.ipv6, mtu=row.mtu, blackhole=row.blackhole,
             udp_timeout=row.udp_timeout) as lab:
        url = start_server(lab)
        size = int(SIZE) if SIZE else (4 << 20 if row.rate_mbit else 16 << 20)
        src, out = payload(lab, size)
        code = "%d-acorn-zebra" % (1000 + os.getpid() % 9000)
        lab.reset_counters()
        env_a, env_b = (dict(lab.env(side), **forced_env(row)) for side in ("A", "B"))
        sender = ferry(lab, "A", ["send", "--json", "--server", url, "--code", code, src], env=env_a)
        first = sender.stdout.readline()
        if not first or json.loads(first)["event"] != "code":
            result["error"] = "sender did not start: " + first + sender.stderr.read()
            return result
        if row.pause_s:
            time.sleep(row.pause_s)  # the sender waits for its receiver
        start = time.monotonic()
        answer = [] if row.pause_s else ["--yes"]
        receiver = ferry(lab, "B", ["receive", "--json"] + answer + ["--server", url, "--output", out,
                                                                      code], env=env_b,
                         stdin=subprocess.PIPE if row.pause_s else None)
        events = []
        # A receiver that stalls prints nothing more: the clients are killed at the deadline,
        # which ends the read below.
        timed_out = threading.Event()

        def expire():
            timed_out.set()
            for p in (receiver, sender):
                p.kill()
        killer = threading.Timer(TIMEOUT + 2 * row.pause_s, expire)
        killer.start()
        try:
            for line in receiver.stdout:
                events.append((time.monotonic() - start, json.loads(line)))
                if row.pause_s and events[-1][1]["event"] == "offer":
                    time.sleep(row.pause_s)  # the receiver thinks it over
                    start += row.pause_s
                    receiver.stdin.write("y\n")
                    receiver.stdin.close()
            receiver.wait(TIMEOUT)
            sender.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            timed_out.set()
        finally:
            killer.cancel()
        if timed_out.is_set():
            result["error"] = "timed out after %d s" % TIMEOUT
        total = time.monotonic() - start
        counters = lab.read_counters()
        got = os.path.join(out, "payload.bin")
        result["delivered"] = os.path.exists(got) and filecmp.cmp(src, got, shallow=False)
        result["server_bytes"] = counters.get("server", 0)
        result["direct_bytes"] = counters.get("direct", 0)
        result["path"] = classify(result["delivered"], counters, size)
        for t, ev in events:
            if ev["event"] == "progress" and result["first_byte_s"] is None:
                result["first_byte_s"] = round(t, 3)
            if ev["event"] == "connected":
                result["ferry_path"] = ev["path"]
                result["transport"] = ev["transport"]
                result["peer"] = ev.get("peer")
                result["connections"] = ev.get("connections")
                result["moved"] = result["moved"] or ev.get("moved", False)
                if ev["path"] == "direct" and result["direct_s"] is None:
                    result["direct_s"] = round(t, 3)
            if ev["event"] == "error":
                result["error"] = ev["message"]
        if result["delivered"]:
            result["total_s"] = round(total, 3)
            done = next((ev for _, ev in events if ev["event"] == "done"), None)
            if done and done["seconds"] > 0:
                result["mb_s"] = round(done["bytes"] / done["seconds"] / 1e6, 1)
            result["agrees"] = result["ferry_path"] == result["path"]
        if not result["error"] and receiver.returncode != 0:
            result["error"] = receiver.stderr.read().strip()[-300:]
    return result


def passed(r):
    transport_ok = r.get("want_transport") in (None, r["transport"])
    # An IPv6 row's direct path must be IPv6 ("[address]:port").
    family_ok = not r.get("want_ipv6") or r["path"] != "direct" or (r.get("peer") or "").startswith("[")
    # A further connection whose SYN or SYN-ACK was lost is given up rather than waited for, so
    # under loss a wide pipe may be a connection or two short of what the round trip calls for.
    want, got = r.get("want_connections"), r.get("connections") or 1
    connections_ok = want is None or max(1, want - 2) <= got <= want
    return (r["delivered"] and r["path"] == r["expected"] and r["agrees"] is not False and transport_ok
            and family_ok and connections_ok)


def line(r):
    def f(v, fmt="%s"):
        return "-" if v is None else fmt % v
    how = ((r["transport"] or "-") + ("x%d" % r["connections"] if (r.get("connections") or 1) > 1 else "")
           + ("+moved" if r["moved"] else ""))
    return ("%-22s %-9s %-7s (want %-6s) %-10s first byte %6s s  direct %6s s  total %6s s  %8s MB/s  server %10s B  %s%s" % (
        r["scenario"], "delivered" if r["delivered"] else "FAILED", r["path"], r["expected"], how,
        f(r["first_byte_s"]), f(r["direct_s"]), f(r["total_s"]), f(r["mb_s"]), f(r["server_bytes"]),
        "PASS" if passed(r) else "FAIL",
        "" if r["agrees"] is not False else "  (ferry said %s)" % r["ferry_path"]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    ap.add_argument("--json", help="append the result as one JSON line to this file")
    args = ap.parse_args()
    if not root_or_skip():
        sys.exit(0)
    r = run(args.scenario)
    print(line(r))
    if r["error"] and not passed(r):
        print("  reason: " + r["error"].replace("\n", "\n  "))
    if args.json:
        with open(args.json, "a") as f:
            f.write(json.dumps(r) + "\n")
    sys.exit(0 if passed(r) else 1)


if __name__ == "__main__":
    main()
