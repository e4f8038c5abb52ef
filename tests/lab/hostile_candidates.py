#!/usr/bin/env python3
"""A hostile receiver names other people's addresses as its candidates (docs/protocol.md, threat
model): a host on the internet (198.51.100.30, the "victim"), a private address, and its own
public address, and claims a destination-dependent UDP mapping to draw the birthday method's
probes. The real sender (public host A) may send only to the receiver's own public address, as the
server saw it, and at most the documented caps there; not one packet to the victim or the private
range. Counted by nftables in the sender's own namespace (its output hook sees every packet it
sends, routed or not). The receiver (web/lab/hostile_receiver.js, the page's protocol code) sits
behind a cone NAT and holds the relay pipe unselected for 6 s so that every direct attempt runs its
course. Exit 0 when that holds."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lab import Lab, ROOT, ferry, nft, payload, root_or_skip, sh, start_server, wait_for_code  # noqa: E402

VICTIM = "198.51.100.30"
PRIVATE = "10.1.0.9"
PUNCH_CAP = 20000  # proto/punch_schedule.hpp: probes at most, birthday included
HOLD_MS = 6000


def hostile_note(peer_public):
    cands = []
    for address in (VICTIM, PRIVATE, peer_public):
        for transport, port in (("tcp", 4300), ("udp", 3478)):
            cands.append({"transport": transport, "address": address, "port": port,
                          "kind": "host" if address == PRIVATE else "srflx"})
    return {"type": "candidates", "candidates": cands, "udp_mapping": "dependent"}


def count_packets(lab, ns):
    data = json.loads(sh("nft", "-j", "list", "counters", ns=ns, capture=True))
    return {c["counter"]["name"]: c["counter"]["packets"] for c in data["nftables"]
            if "counter" in c and c["counter"].get("table") == "sent"}


def main():
    if not root_or_skip():
        return 0
    problems = []
    with Lab("public", "cone") as lab:
        sh("ip", "addr", "add", VICTIM + "/24", "dev", "eth0", ns=lab.srv)
        host_a = lab.hosts["A"]
        peer_public = lab.wan_ip["B"]
        nft(host_a, """
table inet sent {
  counter victim {
  }
  counter private {
  }
  counter peer {
  }
  chain out {
    type filter hook output priority 0; policy accept;
    ip daddr %s counter name "victim"
    ip daddr 10.0.0.0/8 counter name "private"
    ip daddr %s counter name "peer"
  }
}
""" % (VICTIM, peer_public))
        url = start_server(lab)
        src, _ = payload(lab, 1 << 16)
        sender = ferry(lab, "A", ["send", "--json", "--server", url, src])
        code = wait_for_code(sender)
        assert code, sender.stderr.read()
        hostile = lab.spawn(lab.hosts["B"], ["node", os.path.join(ROOT, "web", "lab", "hostile_receiver.js"),
                                             url, code, json.dumps(hostile_note(peer_public)), HOLD_MS],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        h_out, h_err = hostile.communicate(timeout=60)
        try:
            s_out, s_err = sender.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            sender.kill()
            s_out, s_err = sender.communicate()
        sent = count_packets(lab, host_a)
    print("hostile receiver:", h_out.strip(), h_err.strip())
    print("sender's packets to the victim %(victim)d, to 10/8 %(private)d, to the peer's public "
          "address %(peer)d" % sent)
    events = [json.loads(l) for l in h_out.splitlines() if l.strip()]
    if not any(e.get("event") == "offer" for e in events):
        problems.append("the hostile receiver never got the offer (the test did not run): %s %s"
                        % (h_out, h_err))
    if sent["victim"]:
        problems.append("the sender sent %d packets to %s, an address the peer only named"
                        % (sent["victim"], VICTIM))
    if sent["private"]:
        problems.append("the sender sent %d packets to the private range" % sent["private"])
    if not sent["peer"]:
        problems.append("the sender never tried the peer's own public address (the counters "
                        "would not show a steered send either)")
    if sent["peer"] > PUNCH_CAP + 200:
        problems.append("the sender sent %d packets to the peer, above the cap of %d probes"
                        % (sent["peer"], PUNCH_CAP))
    for p in problems:
        print("PROBLEM:", p)
    if problems:
        print("sender said:", s_out[-2000:], s_err[-2000:])
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
