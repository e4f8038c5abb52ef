#!/usr/bin/env python3
"""A path that dies mid-transfer must end the transfer with a clear error, never a silent wait
(issue 39): two public hosts on 50 Mbit/s links send a file directly (over TCP, then over
QUIC); once bytes move, the internet drops every packet between the two sides. The kernel
alone would retransmit for a quarter of an hour. The sender must give up within
proto::SendStall::kGiveUp (15 s) plus margin and say that nothing was acknowledged; the receiver
must end within its keepalive (net::kKeepIdle and probes, about 25 s) plus margin (over QUIC both
sides' idle timeout, 10 s, ends it sooner); both keep the partial file for a resume."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lab import Lab, ferry, nft, payload, root_or_skip, start_server, wait_for_code  # noqa: E402

SIZE = 256 << 20  # far more than the links carry before the cut
SENDER_WITHIN = 15 + 8
RECEIVER_WITHIN = 25 + 10
CUT = """
table ip cut {
  chain forward {
    type filter hook forward priority -10; policy accept;
    ip saddr 203.0.113.0/24 ip daddr 203.0.113.0/24 drop
  }
}
"""


def run(env_extra, label, want_path):
    problems = []
    with Lab("public", "public", rate_mbit=50) as lab:
        url = start_server(lab)
        src, out = payload(lab, SIZE)
        env_a, env_b = (dict(lab.env(side), **env_extra) for side in ("A", "B"))
        sender = ferry(lab, "A", ["send", "--json", "--server", url, src], env=env_a)
        code = wait_for_code(sender)
        assert code, sender.stderr.read()
        receiver = ferry(lab, "B", ["receive", "--json", "--yes", "--server", url, "--output", out,
                                    code], env=env_b)
        path = None
        for line in receiver.stdout:
            ev = json.loads(line)
            if ev["event"] == "connected":
                path = "%s/%s" % (ev["path"], ev["transport"])
            if ev["event"] == "progress" and ev.get("bytes", 0) > 1 << 20:
                break
        nft(lab.inet, CUT)
        cut = time.monotonic()
        ended = {}
        while len(ended) < 2 and time.monotonic() - cut < RECEIVER_WITHIN + 5:
            for name, p in (("sender", sender), ("receiver", receiver)):
                if name not in ended and p.poll() is not None:
                    ended[name] = time.monotonic() - cut
            time.sleep(0.2)
        s_err = sender.stderr.read() if "sender" in ended else ""
        r_err = receiver.stderr.read() if "receiver" in ended else ""
        parts = [f for f in os.listdir(out) if f.endswith(".ferry-part")]
    print("%s: path %s; after the cut the sender ended in %s, the receiver in %s" % (
        label, path, "%.1f s" % ended["sender"] if "sender" in ended else "never",
        "%.1f s" % ended["receiver"] if "receiver" in ended else "never"))
    print("  sender said: %s\n  receiver said: %s" % (s_err.strip()[-300:], r_err.strip()[-300:]))
    if ended.get("sender", 1e9) > SENDER_WITHIN:
        problems.append("%s: the sender did not give up within %d s" % (label, SENDER_WITHIN))
    if ended.get("receiver", 1e9) > RECEIVER_WITHIN:
        problems.append("%s: the receiver did not give up within %d s" % (label, RECEIVER_WITHIN))
    if "sender" in ended and sender.returncode == 0:
        problems.append("%s: the sender claimed success" % label)
    if "receiver" in ended and receiver.returncode == 0:
        problems.append("%s: the receiver claimed success" % label)
    if path != want_path:  # the test's premise
        problems.append("%s: the transfer ran on %s, not %s" % (label, path, want_path))
    if path == "direct/tcp" and "nothing was acknowledged" not in s_err:
        problems.append("%s: the sender did not say that nothing was acknowledged" % label)
    if not parts:
        problems.append("%s: no partial file kept for a resume" % label)
    return problems


def main():
    if not root_or_skip():
        return 0
    problems = run({"FERRY_NO_UDP": "1"}, "direct TCP", "direct/tcp")
    problems += run({"FERRY_NO_TCP": "1"}, "direct QUIC", "direct/quic")
    for p in problems:
        print("FAIL: " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
