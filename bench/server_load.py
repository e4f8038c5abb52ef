#!/usr/bin/env python3
"""Server cost under load (issue 5): 1,000 idle rendezvous sessions (each a WebSocket holding an
allocated code) plus 100 relayed transfers at once, through the real CLI. Prints the server's peak
RSS against the 200 MB goal and its CPU time per GB relayed. Median of BENCH_RUNS rounds."""
import json
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
from benchlib import FERRY, RUNS, median, random_file, tmpdir  # noqa: E402
from wsclient import WebSocket  # noqa: E402

IDLE = int(os.environ.get("BENCH_IDLE", "1000"))
PAIRS = int(os.environ.get("BENCH_PAIRS", "100"))
SIZE = int(os.environ.get("BENCH_SIZE", str(32 << 20)))
GOAL_MB = 200


def proc_stat(pid):
    with open("/proc/%d/status" % pid) as f:
        hwm = int(re.search(r"VmHWM:\s+(\d+) kB", f.read()).group(1)) * 1024
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return hwm, cpu


def one_round(tmp):
    server = subprocess.Popen([FERRY, "serve", "--listen", "127.0.0.1:0", "--relay-per-address",
                               "10000", "--relay-connects-per-minute", "100000",
                               "--claims-per-minute", "100000"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    port = int(re.search(r":(\d+)\s*$", server.stdout.readline()).group(1))
    url = "http://127.0.0.1:%d" % port
    idle = []
    for _ in range(IDLE):
        ws = WebSocket(port)
        ws.recv_json()  # welcome
        ws.send_json({"type": "allocate"})
        assert ws.recv_json()["type"] == "allocated"
        idle.append(ws)
    rss_idle, cpu_idle = proc_stat(server.pid)
    src = os.path.join(tmp, "payload.bin")
    if not os.path.exists(src):
        random_file(src, SIZE)
    senders, receivers = [], []
    for i in range(PAIRS):
        senders.append(subprocess.Popen([FERRY, "send", "--json", "--force-relay", "--server", url,
                                         src], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True))
    start = time.monotonic()
    for i, s in enumerate(senders):
        code = json.loads(s.stdout.readline())["code"]
        out = os.path.join(tmp, "out%d" % i)
        os.makedirs(out, exist_ok=True)
        receivers.append(subprocess.Popen([FERRY, "receive", "--json", "--yes", "--force-relay",
                                           "--server", url, "--output", out, code],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    failed = sum(1 for p in senders + receivers if p.wait() != 0)
    elapsed = time.monotonic() - start
    rss, cpu = proc_stat(server.pid)
    server.terminate()
    server.wait()
    for ws in idle:
        ws.close()
    for i in range(PAIRS):
        shutil.rmtree(os.path.join(tmp, "out%d" % i), ignore_errors=True)
    if failed:
        sys.exit("%d of %d transfer processes failed" % (failed, 2 * PAIRS))
    gb = PAIRS * SIZE / 1e9
    return rss_idle, rss, (cpu - cpu_idle) / gb, PAIRS * SIZE / elapsed / 1e6


def main():
    tmp = tmpdir()
    try:
        rounds = [one_round(tmp) for _ in range(RUNS)]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rss_idle = median([r[0] for r in rounds]) / 1e6
    rss = median([r[1] for r in rounds]) / 1e6
    cpu = median([r[2] for r in rounds])
    rate = median([r[3] for r in rounds])
    print("server with %d idle sessions: peak RSS %.1f MB" % (IDLE, rss_idle))
    print("server with %d idle sessions + %d relayed transfers of %d MiB: peak RSS %.1f MB "
          "(goal %d MB -> ratio %.2f), CPU %.2f s per GB relayed, %.0f MB/s relayed in all"
          % (IDLE, PAIRS, SIZE >> 20, rss, GOAL_MB, rss / GOAL_MB, cpu, rate))


if __name__ == "__main__":
    main()
