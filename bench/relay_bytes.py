#!/usr/bin/env python3
"""Issue 19's figure, in the network lab (needs root): in how many runs the relay carried payload
where a direct path exists from the first millisecond. For each docs/scenarios.md row, BENCH_RUNS
(default 20) transfers of 4 MiB, the receiver started the moment the sender starts (a script, or
a pre-agreed code: the case where the relay used to win the first race) or, with --after-code,
once the sender printed its code. The relay's own counter (ferry_relay_bytes_total from the
server's /metrics) is read after each run: above 64 KiB, the relay carried payload (hellos and
"select" on a losing relay pipe are a few hundred bytes).

Goal: 0 runs with relayed payload on every row whose expected path is direct."""
import json
import os
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))
from lab import SERVER_IP, Lab, ferry, payload, sh, start_server  # noqa: E402
from scenarios import SCENARIOS, forced_env  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "20"))
SIZE = 4 << 20
PAYLOAD_THRESHOLD = 64 << 10
DEFAULT_ROWS = ("public-public", "cone-public", "samelan", "upnp-cone", "cone-cone", "cgnat-cone",
                "fullcone-symmetric", "cone-symmetric", "udpblock-cone", "symmetric-symmetric-v6",
                "symmetric-symmetric-v6-quic")


def relay_bytes(lab):
    text = sh("python3", "-c", "import urllib.request,sys;"
              "sys.stdout.write(urllib.request.urlopen('http://%s:9300/metrics').read().decode())"
              % SERVER_IP, ns=lab.srv, capture=True)
    m = re.search(r"^ferry_relay_bytes_total (\d+)", text, re.M)
    return int(m.group(1)) if m else 0


def one(name, after_code, i):
    row = SCENARIOS[name]
    expected = row.expected
    with Lab(row.a, row.b, samelan=row.samelan, loss_permille=row.loss, ipv6=row.ipv6) as lab:
        url = start_server(lab, "--metrics-listen", SERVER_IP + ":9300")
        src, out = payload(lab, SIZE)
        code = "%d-acorn-zebra" % (1000 + (os.getpid() + i) % 9000)
        env_a, env_b = (dict(lab.env(side), **forced_env(row)) for side in ("A", "B"))
        sender = ferry(lab, "A", ["send", "--json", "--server", url, "--code", code, src], env_a)
        if after_code:
            sender.stdout.readline()
        receiver = ferry(lab, "B", ["receive", "--json", "--yes", "--server", url, "--output",
                                    out, code], env_b)
        events = []
        try:
            events = [json.loads(line) for line in receiver.stdout]
            receiver.wait(60)
            sender.wait(60)
        except subprocess.TimeoutExpired:
            pass
        connected = [e for e in events if e["event"] == "connected"]
        ok = any(e["event"] == "done" for e in events)
        return {"delivered": ok, "relay_bytes": relay_bytes(lab),
                "first": connected[0]["path"] if connected else None,
                "moved": any(e.get("moved") for e in connected)}


def main():
    if os.geteuid() != 0:
        sys.exit("relay_bytes.py builds network namespaces: run it as root")
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    after_code = "--after-code" in sys.argv
    rows = args or list(DEFAULT_ROWS)
    print("receiver started %s; %d runs per row; relayed payload: > %d B through the relay"
          % ("after the code was printed" if after_code else "with the sender", RUNS,
             PAYLOAD_THRESHOLD))
    print("%-20s %-7s %9s %10s %8s %14s %14s" % ("row", "want", "delivered", "relayed", "moved",
                                                   "relay B median", "relay B max"))
    for name in rows:
        results = [one(name, after_code, i) for i in range(RUNS)]
        relayed = sum(1 for r in results if r["relay_bytes"] > PAYLOAD_THRESHOLD)
        counts = [r["relay_bytes"] for r in results]
        print("%-20s %-7s %6d/%-2d %7d/%-2d %5d/%-2d %14d %14d" % (
            name, SCENARIOS[name].expected, sum(r["delivered"] for r in results), RUNS, relayed, RUNS,
            sum(r["moved"] for r in results), RUNS, statistics.median(counts), max(counts)),
            flush=True)


if __name__ == "__main__":
    main()
