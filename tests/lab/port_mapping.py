#!/usr/bin/env python3
"""Port mapping (issue 4): the sender sits behind a UPnP/NAT-PMP router (real miniupnpd), the
receiver behind a symmetric NAT, UDP hole punching left out (FERRY_NO_UDP=1) and the links at
200 Mbit/s. TCP simultaneous open cannot pass the symmetric NAT, so only the port the sender's
router maps lets the receiver dial in: where the mapping is ready before the relay (the router
answers within ~0.1 s) the transfer goes direct from the start, otherwise it starts on the relay
and moves there. Checks: the router holds a mapping to the sender during the transfer, both sides
end on a direct TCP path, the receiver's at the router's public address, the file is intact, and
the mapping is gone once the sender exits. (Moving from the relay is lab.migration's test.)"""
import filecmp
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lab import Lab, ferry, payload, root_or_skip, sh, start_server, wait_for_code  # noqa: E402
SIZE = 96 << 20


def router_mappings(lab):
    """The port forwards miniupnpd installed (its nftables chain), as text."""
    return sh("nft", "list", "chain", "inet", "filter", "prerouting_miniupnpd", ns=lab.ns("rA"),
              capture=True, check=False)


def main():
    if not root_or_skip():
        return 0
    problems = []
    env = dict(os.environ, FERRY_NO_UDP="1")
    with Lab("upnp", "symmetric", rate_mbit=200) as lab:
        url = start_server(lab)
        src, out = payload(lab, SIZE)
        sender = ferry(lab, "A", ["send", "--json", "--server", url, src], env)
        code = wait_for_code(sender)
        assert code, sender.stderr.read()
        receiver = ferry(lab, "B", ["receive", "--json", "--yes", "--server", url, "--output", out, code],
                         env)
        during = ""
        deadline = time.time() + 60
        while receiver.poll() is None and time.time() < deadline:
            rules = router_mappings(lab)
            if "dnat" in rules:
                during = rules
            time.sleep(0.1)
        r_out, r_err = receiver.communicate(timeout=60)
        s_out, s_err = sender.communicate(timeout=30)
        time.sleep(0.5)
        after = router_mappings(lab)
        delivered = filecmp.cmp(src, os.path.join(out, "payload.bin"), shallow=False)
        wan = lab.wan_ip["A"]
    if "dnat" not in during or "10.1.0.2" not in during:
        problems.append("the router never held a mapping to the sender: %r" % during)
    if "dnat" in after:
        problems.append("the mapping outlived the transfer: %r" % after)
    for side, text, err, rc in (("receiver", r_out, r_err, receiver.returncode),
                                ("sender", s_out, s_err, sender.returncode)):
        connected = [json.loads(l) for l in text.splitlines() if '"connected"' in l]
        print("%s (exit %d): %s" % (side, rc, " then ".join(
            "%s/%s %s%s" % (e["path"], e["transport"], e["peer"], " (moved)" if e.get("moved") else "")
            for e in connected)))
        if rc != 0:
            problems.append("the %s failed: %s" % (side, err.strip()[-300:]))
        if not connected or connected[-1]["path"] != "direct" or connected[-1]["transport"] != "tcp":
            problems.append("the %s did not end on a direct TCP path" % side)
    direct = [json.loads(l) for l in r_out.splitlines() if '"connected"' in l and '"direct"' in l]
    if direct and not direct[-1]["peer"].startswith(wan + ":"):
        problems.append("the receiver's direct path is not the router's public address %s: %s"
                        % (wan, direct[-1]["peer"]))
    if not delivered:
        problems.append("the file did not arrive intact")
    for p in problems:
        print("FAIL: " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
