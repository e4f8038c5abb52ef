#!/usr/bin/env python3
"""No server anywhere, two computers on one LAN (two network namespaces on the router's bridge):
`ferry send` with no server configured falls back to this network; `ferry receive CODE` on the
other computer finds the sender by the code's number (multicast and broadcast) and the transfer
runs over a direct TCP connection. Also the receiver first, waiting for a sender with an agreed
code. Nothing may leave the LAN: the router forwards nothing addressed off it."""
import filecmp
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lab import Lab, ferry, nft, payload, root_or_skip, sh, wait_for_code  # noqa: E402
SIZE = 16 << 20


def forwarded(lab):
    data = json.loads(sh("nft", "-j", "list", "counters", ns=lab.ns("rA"), capture=True))
    for item in data["nftables"]:
        c = item.get("counter")
        if c and c.get("table") == "lancount":
            return c["bytes"]
    return None


def main():
    if not root_or_skip():
        return 0
    problems = []
    config = tempfile.mkdtemp(prefix="ferry-noconfig-")
    env = dict(os.environ, XDG_CONFIG_HOME=config)
    env.pop("FERRY_SERVER", None)
    with Lab("cone", "cone", samelan=True) as lab:
        nft(lab.ns("rA"), """
table inet lancount {
  counter out {
  }
  chain forward {
    type filter hook forward priority 0; policy accept;
    # (with br_netfilter the bridge's own LAN frames pass this hook too: count only what is
    # addressed off the LAN)
    ip daddr != { 10.1.0.0/24, 224.0.0.0/4, 255.255.255.255 } counter name "out"
  }
}
""")
        src, out = payload(lab, SIZE)
        # 1. The sender first, with a random short code.
        sender = ferry(lab, "A", ["send", "--json", src], env)
        code = wait_for_code(sender)
        if code is None:
            print("FAIL: the sender printed no code: " + sender.stderr.read())
            return 1
        started = time.time()
        receiver = ferry(lab, "B", ["receive", "--json", "--yes", "--output", out, code], env)
        r_out, r_err = receiver.communicate(timeout=60)
        s_out, s_err = sender.communicate(timeout=30)
        seconds = time.time() - started
        connected = next((json.loads(l) for l in r_out.splitlines() if '"connected"' in l), None)
        print("sender first: code %s, receiver exit %d in %.1f s, connected %s; sender exit %d"
              % (code, receiver.returncode, seconds, connected, sender.returncode))
        if receiver.returncode != 0 or sender.returncode != 0:
            problems.append("a side failed: %s / %s" % (r_err.strip()[-300:], s_err.strip()[-300:]))
        if not connected or not connected["peer"].startswith("10.1.0.2:"):
            problems.append("the receiver did not connect to the sender's LAN address 10.1.0.2")
        got = os.path.join(out, "payload.bin")
        if not (os.path.exists(got) and filecmp.cmp(src, got, shallow=False)):
            problems.append("the file did not arrive intact")

        # 2. The receiver first, with a code agreed in advance: it waits and finds the sender.
        out2 = os.path.join(lab.tmp, "second")
        receiver = ferry(lab, "B", ["receive", "--json", "--yes", "--output", out2, "12-acorn-zebra"],
                         env)
        time.sleep(2)
        sender = ferry(lab, "A", ["send", "--json", "--code", "12-acorn-zebra", src], env)
        r_out, r_err = receiver.communicate(timeout=60)
        sender.communicate(timeout=30)
        print("receiver first: receiver exit %d, sender exit %d" % (receiver.returncode,
                                                                   sender.returncode))
        got = os.path.join(out2, "payload.bin")
        if receiver.returncode != 0 or not (os.path.exists(got) and filecmp.cmp(src, got, shallow=False)):
            problems.append("receiver first failed: " + r_err.strip()[-300:])
        left_lan = forwarded(lab)
        print("bytes the router forwarded off the LAN: %s" % left_lan)
        if left_lan != 0:
            problems.append("traffic left the LAN (%s bytes forwarded by the router)" % left_lan)
    for p in problems:
        print("FAIL: " + p)
    if not problems:
        print("PASS")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
