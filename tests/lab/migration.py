#!/usr/bin/env python3
"""A transfer that starts on the relay and moves to a direct path when one opens (issue 4):
cone NAT to symmetric NAT (only UDP hole punching can connect them), links at 400 Mbit/s, and
UDP between the two sides dropped for the first second, so the transfer starts on the relay and
the punched path opens while it runs. Both sides must report the move, the file must arrive
intact, and the bytes after the move must go directly (packet counters in the internet namespace).
(This kernel has no netem, so a slow UDP path is made by a drop rule that is lifted.)"""
import filecmp
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lab import Lab, ferry, nft, payload, root_or_skip, sh, start_server, wait_for_code  # noqa: E402
SIZE = 128 << 20
BLOCK_S = 1.0
BLOCK = """
table ip migrate {
  chain forward {
    type filter hook forward priority -10; policy accept;
    ip saddr 203.0.113.0/24 ip daddr 203.0.113.0/24 meta l4proto udp drop
  }
}
"""


def events_of(text):
    return [json.loads(l) for l in text.splitlines() if l.strip().startswith("{")]


def main():
    if not root_or_skip():
        return 0
    problems = []
    with Lab("cone", "symmetric", rate_mbit=400) as lab:
        url = start_server(lab)
        src, out = payload(lab, SIZE)
        lab.reset_counters()
        nft(lab.inet, BLOCK)
        sender = ferry(lab, "A", ["send", "--json", "--server", url, src])
        code = wait_for_code(sender)
        assert code, sender.stderr.read()
        receiver = ferry(lab, "B", ["receive", "--json", "--yes", "--server", url, "--output", out, code])
        time.sleep(BLOCK_S)
        sh("nft", "delete", "table", "ip", "migrate", ns=lab.inet)
        r_out, r_err = receiver.communicate(timeout=120)
        s_out, s_err = sender.communicate(timeout=30)
        counters = lab.read_counters()
        delivered = filecmp.cmp(src, os.path.join(out, "payload.bin"), shallow=False)
    for side, text, err, rc in (("receiver", r_out, r_err, receiver.returncode),
                                ("sender", s_out, s_err, sender.returncode)):
        connected = [e for e in events_of(text) if e["event"] == "connected"]
        print("%s (exit %d): %s" % (side, rc, " then ".join(
            "%s/%s%s" % (e["path"], e["transport"], " (moved)" if e.get("moved") else "")
            for e in connected)))
        if rc != 0:
            problems.append("the %s failed: %s" % (side, err.strip()[-300:]))
        if not connected or connected[0]["path"] != "relay":
            problems.append("the %s did not start on the relay (the test's premise)" % side)
        if not any(e.get("moved") and e["path"] == "direct" and e["transport"] == "quic"
                   for e in connected):
            problems.append("the %s did not report moving to a direct QUIC path" % side)
    print("relay carried %d bytes, direct %d bytes, of a %d-byte file" % (
        counters.get("server", 0), counters.get("direct", 0), SIZE))
    if not delivered:
        problems.append("the file did not arrive intact")
    if counters.get("direct", 0) < SIZE // 10:
        problems.append("almost nothing went directly after the move")
    if counters.get("server", 0) >= 2 * SIZE:
        problems.append("the relay carried the whole file: the move did not happen")
    for p in problems:
        print("FAIL: " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
