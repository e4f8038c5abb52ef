#!/usr/bin/env python3
"""Issue 17's figure: 1 GiB from Debian's `wormhole send` received by `ferry receive`, against
the same file from `wormhole send` to `wormhole receive`, in the same run, on loopback, through
Debian's mailbox server and transit relay started here (the transfer goes direct: both sides on
one machine). Wall clock from the receiver's start to both sides' exit; medians of BENCH_RUNS.
Prints MB/s for each and the ratio ferry / wormhole (goal: >= 1, ferry is not the bottleneck).
With --serve, ferry serve is the mailbox and transit relay instead (and the transfers relayed:
--no-listen on the wormhole sides)."""
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from benchlib import FERRY, ROOT, RUNS, Server, median

sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from ferrylib import free_port  # noqa: E402

SIZE = int(os.environ.get("BENCH_SIZE", str(1 << 30)))
TMP = os.environ.get("BENCH_TMP", tempfile.gettempdir())


def wait_port(port):
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit("nothing listens on %d" % port)


def digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                return h.hexdigest()
            h.update(b)


def one(kind, mailbox, transit, src, out, code, relayed):
    """One transfer: wormhole sends, `kind` ("ferry" or "wormhole") receives; seconds."""
    base = ["wormhole", "--relay-url", mailbox, "--transit-helper", transit]
    listen = ["--no-listen"] if relayed else []
    os.sync()
    sender = subprocess.Popen(base + ["send", "--hide-progress", "--code", code] + listen + [src],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)  # the sender has its nameplate before the receiver looks for it
    start = time.monotonic()
    if kind == "ferry":
        cmd = [FERRY, "receive", "--yes", "--mailbox", mailbox, "--transit-helper", transit,
               "--output", out, code]
    else:
        cmd = base + ["receive", "--hide-progress", "--accept-file"] + listen + [code]
    r = subprocess.run(cmd, cwd=out, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    sender.wait()
    elapsed = time.monotonic() - start
    if r.returncode != 0 or sender.returncode != 0:
        sys.exit("%s transfer failed: %s" % (kind, r.stderr))
    got = os.path.join(out, os.path.basename(src))
    if digest(got) != digest(src):
        sys.exit("%s: the file arrived different" % kind)
    os.remove(got)
    return elapsed


def main():
    serve = "--serve" in sys.argv
    if not shutil.which("wormhole") or not shutil.which("twist3"):
        sys.exit("magic-wormhole and its servers are not installed (scripts/setup.sh)")
    work = tempfile.mkdtemp(prefix="ferry-bench-wormhole-", dir=TMP)
    procs = []
    server = None
    try:
        if serve:
            server = Server().__enter__()
            port = int(server.url.rsplit(":", 1)[1])
            mailbox, transit = "ws://127.0.0.1:%d/v1" % port, "tcp:127.0.0.1:%d" % port
        else:
            mp, tp = free_port(), free_port()
            procs.append(subprocess.Popen(
                ["twist3", "wormhole-mailbox", "--port", "tcp:%d:interface=127.0.0.1" % mp,
                 "--channel-db", os.path.join(work, "relay.sqlite")], cwd=work,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            procs.append(subprocess.Popen(
                ["twist3", "transitrelay", "--port", "tcp:%d:interface=127.0.0.1" % tp], cwd=work,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            wait_port(mp)
            wait_port(tp)
            mailbox, transit = "ws://127.0.0.1:%d/v1" % mp, "tcp:127.0.0.1:%d" % tp
        src = os.path.join(work, "payload.bin")
        with open(src, "wb") as f:
            for _ in range(SIZE // (1 << 20)):
                f.write(os.urandom(1 << 20))
        out = os.path.join(work, "out")
        os.makedirs(out)
        times = {"ferry": [], "wormhole": []}
        for i in range(RUNS):
            for kind in ("wormhole", "ferry"):
                code = "%d-guitarist-revenge" % (100 + 2 * i + (kind == "ferry"))
                times[kind].append(one(kind, mailbox, transit, src, out, code, serve))
        mb = {k: SIZE / median(v) / 1e6 for k, v in times.items()}
        print("wormhole -> ferry receive:    %7.1f MB/s (median of %d: %s s)" % (
            mb["ferry"], RUNS, ", ".join("%.2f" % t for t in times["ferry"])))
        print("wormhole -> wormhole receive: %7.1f MB/s (median of %d: %s s)" % (
            mb["wormhole"], RUNS, ", ".join("%.2f" % t for t in times["wormhole"])))
        print("ratio ferry / wormhole receiving: %.2f%s" % (
            mb["ferry"] / mb["wormhole"], " (through ferry serve, relayed)" if serve else ""))
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        if server:
            server.__exit__()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
