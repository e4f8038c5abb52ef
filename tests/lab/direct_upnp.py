#!/usr/bin/env python3
"""Serverless mode through a router that maps a port (issue 4): no ferry server anywhere. The
sender sits behind a UPnP/NAT-PMP router (real miniupnpd) and runs `send --direct`; a receiver on
the public internet uses only the printed code. The code must hold the router's public address,
the transfer must arrive intact over it, and no byte may go to the (absent) server's addresses."""
import filecmp
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lab import Lab, ferry, payload, root_or_skip, sh, wait_for_code  # noqa: E402
SIZE = 32 << 20


def main():
    if not root_or_skip():
        return 0
    problems = []
    env = dict(os.environ)
    env.pop("FERRY_SERVER", None)
    with Lab("upnp", "public") as lab:
        src, out = payload(lab, SIZE)
        lab.reset_counters()
        sender = ferry(lab, "A", ["send", "--direct", "--json", src], env)
        code = wait_for_code(sender)
        if code is None:
            print("FAIL: the sender printed no code: " + sender.stderr.read())
            return 1
        receiver = ferry(lab, "B", ["receive", "--json", "--yes", "--output", out, code], env)
        r_out, r_err = receiver.communicate(timeout=60)
        s_out, s_err = sender.communicate(timeout=30)
        counters = lab.read_counters()
        wan = lab.wan_ip["A"]

        def mapped():
            return "dnat" in sh("nft", "list", "chain", "inet", "filter", "prerouting_miniupnpd",
                                ns=lab.ns("rA"), capture=True, check=False)
        waiting = ferry(lab, "A", ["send", "--direct", "--json", src], env)
        wait_for_code(waiting)
        mapped_while_waiting = mapped()
        waiting.send_signal(signal.SIGINT)
        interrupted_rc = waiting.wait(15)
        time.sleep(0.3)
        mapped_after_ctrl_c = mapped()
        delivered = os.path.exists(os.path.join(out, "payload.bin")) and filecmp.cmp(
            src, os.path.join(out, "payload.bin"), shallow=False)
    connected = next((json.loads(l) for l in r_out.splitlines() if '"connected"' in l), None)
    print("receiver exit %d, connected %s; sender exit %d; direct %d bytes, server %d bytes"
          % (receiver.returncode, connected, sender.returncode, counters.get("direct", 0),
             counters.get("server", 0)))
    if receiver.returncode != 0 or sender.returncode != 0:
        problems.append("a side failed: %s / %s" % (r_err.strip()[-300:], s_err.strip()[-300:]))
    if not connected or not connected["peer"].startswith(wan + ":"):
        problems.append("the receiver did not connect to the router's mapped public address %s" % wan)
    if not delivered:
        problems.append("the file did not arrive intact")
    if not mapped_while_waiting:
        problems.append("the second sender's router held no mapping while it waited")
    if interrupted_rc != 130 or mapped_after_ctrl_c:
        problems.append("after Ctrl-C (exit %s) the mapping %s" % (
            interrupted_rc, "is still there" if mapped_after_ctrl_c else "is gone"))
    if counters.get("server", 0) > 0:
        problems.append("bytes went to the server's addresses though no server was used")
    for p in problems:
        print("FAIL: " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
