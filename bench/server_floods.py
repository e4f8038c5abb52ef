#!/usr/bin/env python3
"""`ferry serve` under the floods of the round-3 security review (issue 37), replayed against the
real binary on loopback addresses: the server's RSS growth over its idle RSS measured in the same
run (the goal: at most 64 MB more than idle), and whether /healthz still answers.

  mailbox:  N connections (8 addresses) bind one side of one wormhole mailbox and never read; a
            writer adds 64 messages of 60 kB; each listener sends 300 pings it never reads
  pings:    N connections bind and send 2,000 pings each, reading nothing
  binds:    --max-connections 64: 64 bare binds from 16 addresses, then /healthz and a newcomer

Medians of BENCH_RUNS rounds (3). BENCH_FLOOD_CONNECTIONS sets N (160)."""
import json
import os
import statistics
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from benchlib import RUNS  # noqa: E402
from ferrylib import Server  # noqa: E402
from test_hostile import flood_mailbox, rss_mb  # noqa: E402
from wsclient import WebSocket  # noqa: E402

N = int(os.environ.get("BENCH_FLOOD_CONNECTIONS", "160"))
GOAL_MB = 64


def settle(srv, idle, seconds=2.0):
    """The server's RSS growth over idle after the flood has had time to land."""
    time.sleep(seconds)
    return rss_mb(srv.proc.pid) - idle


def healthz(srv):
    try:
        return urllib.request.urlopen("http://127.0.0.1:%d/healthz" % srv.port, timeout=5).status
    except OSError:
        return None


def mailbox_flood():
    with Server(["--claims-per-minute", "100000"]) as srv:
        idle = rss_mb(srv.proc.pid)
        flood = flood_mailbox(srv.port, N)
        grown = settle(srv, idle)
        status = healthz(srv)
        for ws in flood:
            ws.close()
        return grown, status


def ping_flood():
    with Server() as srv:
        idle = rss_mb(srv.proc.pid)
        clients = []
        ping = json.dumps({"type": "ping", "ping": 1, "id": "p"}).encode()
        for i in range(N):
            try:
                ws = WebSocket(srv.port, path="/v1", source="127.0.0.%d" % (2 + i % 8))
                ws.send_json({"type": "bind", "appid": "x", "side": "s%d" % i, "id": "b"})
                clients.append(ws)
            except (OSError, ConnectionError):
                pass
        for ws in clients:
            try:
                for _ in range(2000):
                    ws.send_text(ping)
            except OSError:
                pass
        grown = settle(srv, idle)
        status = healthz(srv)
        for ws in clients:
            ws.close()
        return grown, status


def bind_flood():
    with Server(["--max-connections", "64"]) as srv:
        idle = rss_mb(srv.proc.pid)
        bound = []
        for i in range(64):
            try:
                ws = WebSocket(srv.port, path="/v1", source="127.0.0.%d" % (2 + i % 16))
                ws.send_json({"type": "bind", "appid": "x", "side": "s%d" % i, "id": "b"})
                bound.append(ws)
            except (OSError, ConnectionError):
                pass
        time.sleep(0.3)
        status = healthz(srv)
        grown = settle(srv, idle, 0.5)
        for ws in bound:
            ws.close()
        return grown, status


def main():
    rows = [("mailbox listeners that never read", mailbox_flood),
            ("pings never read", ping_flood),
            ("bare binds at --max-connections 64", bind_flood)]
    print("flood%s RSS over idle (MB, median of %d)  goal  ratio  /healthz" % (" " * 32, RUNS))
    for name, flood in rows:
        grown, statuses = [], []
        for _ in range(RUNS):
            g, s = flood()
            grown.append(g)
            statuses.append(s)
        g = statistics.median(grown)
        print("%-37s %30.1f  %4d  %5.2f  %s" % (name, g, GOAL_MB, g / GOAL_MB,
                                                   ",".join(str(s) for s in statuses)))


if __name__ == "__main__":
    main()
