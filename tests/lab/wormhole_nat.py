#!/usr/bin/env python3
"""magic-wormhole across two NATs: Debian's `wormhole send` behind a cone NAT gives a code; ferry
receives it behind another cone NAT, through Debian's mailbox server and transit relay on the
lab's internet. wormhole has no hole punching, so the bytes can only meet at the transit relay:
the file must arrive intact on that path (ferry's own protocol between the same two NATs goes
direct: the cone-cone row). Then the same the other way: `ferry send --wormhole` behind A, Debian's
`wormhole receive` behind B. Exit 0 when both hold."""
import hashlib
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lab import SERVER_IP, Lab, ferry, payload, root_or_skip, wait_tcp  # noqa: E402

MAILBOX = "ws://%s:4000/v1" % SERVER_IP
TRANSIT = "tcp:%s:4001" % SERVER_IP
SIZE = 8 * 1024 * 1024


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main():
    if not root_or_skip():
        return 0
    if not shutil.which("wormhole") or not shutil.which("twist3"):
        print("FAIL: magic-wormhole and its servers are not installed (scripts/setup.sh)")
        return 1
    problems = []
    with Lab("cone", "cone") as lab:
        lab.spawn(lab.srv, ["twist3", "wormhole-mailbox", "--port",
                            "tcp:4000:interface=" + SERVER_IP,
                            "--channel-db", os.path.join(lab.tmp, "relay.sqlite")],
                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=lab.tmp)
        lab.spawn(lab.srv, ["twist3", "transitrelay", "--port", "tcp:4001:interface=" + SERVER_IP],
                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=lab.tmp)
        wait_tcp(lab.srv, SERVER_IP, 4000, timeout=20)
        wait_tcp(lab.srv, SERVER_IP, 4001, timeout=20)
        src, out = payload(lab, SIZE)
        wormhole = ["wormhole", "--relay-url", MAILBOX, "--transit-helper", TRANSIT]

        # wormhole -> ferry
        code = "7-guitarist-revenge"
        sender = lab.spawn(lab.hosts["A"], wormhole + ["send", "--hide-progress", "--code", code,
                                                       src], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, env=lab.env("A"))
        receiver = ferry(lab, "B", ["receive", "--json", "--yes", "--mailbox", MAILBOX,
                                    "--transit-helper", TRANSIT, "--output", out, code])
        r_out, r_err = receiver.communicate(timeout=120)
        s_out, _ = sender.communicate(timeout=60)
        events = [json.loads(line) for line in r_out.splitlines() if line.strip()]
        connected = [e for e in events if e["event"] == "connected"]
        got = os.path.join(out, os.path.basename(src))
        if receiver.returncode != 0 or sender.returncode != 0:
            problems.append("wormhole -> ferry failed: ferry %d (%s), wormhole %d (%s)" % (
                receiver.returncode, r_err.strip(), sender.returncode, s_out.strip()[-300:]))
        elif sha256(got) != sha256(src):
            problems.append("wormhole -> ferry: the file arrived different")
        elif not connected or connected[0]["path"] != "relay":
            problems.append("wormhole -> ferry: expected the transit relay, got %r" % connected)
        else:
            print("wormhole -> ferry: %d bytes intact through the transit relay" % SIZE)
        os.remove(got)

        # ferry -> wormhole
        sender = ferry(lab, "A", ["send", "--wormhole", "--json", "--mailbox", MAILBOX,
                                  "--transit-helper", TRANSIT, src])
        code = None
        for line in sender.stdout:
            ev = json.loads(line)
            if ev["event"] == "code":
                code = ev["code"]
                break
        if code is None:
            problems.append("ferry send --wormhole gave no code: " + sender.stderr.read())
        else:
            receiver = lab.spawn(lab.hosts["B"], wormhole + [
                "receive", "--hide-progress", "--accept-file", "-o", got, code],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=lab.env("B"))
            w_out, _ = receiver.communicate(timeout=120)
            rest, s_err = sender.communicate(timeout=60)
            if receiver.returncode != 0 or sender.returncode != 0:
                problems.append("ferry -> wormhole failed: ferry %d (%s), wormhole %d (%s)" % (
                    sender.returncode, s_err.strip(), receiver.returncode, w_out.strip()[-300:]))
            elif sha256(got) != sha256(src):
                problems.append("ferry -> wormhole: the file arrived different")
            else:
                print("ferry -> wormhole: %d bytes intact (%s)" % (
                    SIZE, "via relay" if "relay" in w_out else w_out.strip()[-80:]))
    for p in problems:
        print("FAIL: " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
