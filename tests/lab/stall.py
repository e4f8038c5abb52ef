#!/usr/bin/env python3
"""A path that dies mid-transfer must never mean a silent wait, nor the end of the transfer
(issues 39 and 40): two public hosts on 50 Mbit/s links send a file directly (over TCP, then over
QUIC); once bytes move, the internet drops every packet between the two sides (the server stays
reachable). The kernel alone would retransmit for a quarter of an hour. The sender must notice
within proto::SendStall::kGiveUp (15 s) plus margin and say that nothing was acknowledged; the
receiver within its keepalive (net::kKeepIdle and probes, about 25 s) plus margin (over QUIC both
sides' idle timeout, 10 s, sooner). Then both take the same code back by themselves, meet again
through the server, and the transfer continues on the path that works now (the relay) from the
part file: both end with success and the file intact, with no new code."""
import hashlib
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lab import Lab, ferry, nft, payload, root_or_skip, start_server, wait_for_code  # noqa: E402

SIZE = 48 << 20  # about 8 s on these links; the cut comes after the first MiB
SENDER_WITHIN = 15 + 8
RECEIVER_WITHIN = 25 + 10
FINISH_WITHIN = RECEIVER_WITHIN + 30
CUT = """
table ip cut {
  chain forward {
    type filter hook forward priority -10; policy accept;
    ip saddr 203.0.113.0/24 ip daddr 203.0.113.0/24 drop
  }
}
"""


def digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def collect(proc, events):
    """Every JSON event of proc, with the time it arrived."""
    for line in proc.stdout:
        events.append((time.monotonic(), json.loads(line)))


def first(events, test, since):
    return next((t - since for t, ev in events if t >= since and test(ev)), None)


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
        s_events, r_events = [], []
        readers = [threading.Thread(target=collect, args=(p, e), daemon=True)
                   for p, e in ((sender, s_events), (receiver, r_events))]
        for t in readers:
            t.start()
        ended = {}
        while len(ended) < 2 and time.monotonic() - cut < FINISH_WITHIN:
            for name, p in (("sender", sender), ("receiver", receiver)):
                if name not in ended and p.poll() is not None:
                    ended[name] = time.monotonic() - cut
            time.sleep(0.2)
        for t in readers:
            t.join(timeout=5)
        s_err = sender.stderr.read() if "sender" in ended else ""
        r_err = receiver.stderr.read() if "receiver" in ended else ""
        got = os.path.join(out, os.path.basename(src))
        intact = os.path.exists(got) and digest(got) == digest(src)
    broke = lambda ev: ev["event"] == "note" and "broke off" in ev["text"]  # noqa: E731
    s_broke, r_broke = first(s_events, broke, cut), first(r_events, broke, cut)
    resumed = first(r_events, lambda ev: ev["event"] == "resumed", cut)
    s_note = next((ev["text"] for _, ev in s_events if broke(ev)), "")
    after = ["%s/%s" % (ev["path"], ev["transport"]) for _, ev in r_events
             if ev["event"] == "connected"]
    fmt = lambda x: "never" if x is None else "%.1f s" % x  # noqa: E731
    print("%s: path %s; after the cut the sender noticed in %s, the receiver in %s; bytes moved "
          "again (resumed) after %s on %s; both ended after %s / %s" % (
              label, path, fmt(s_broke), fmt(r_broke), fmt(resumed), after or "no path",
              fmt(ended.get("sender")), fmt(ended.get("receiver"))))
    print("  sender said: %s\n  receiver said: %s" % (s_err.strip()[-300:], r_err.strip()[-300:]))
    if path != want_path:  # the test's premise
        problems.append("%s: the transfer ran on %s, not %s" % (label, path, want_path))
    if s_broke is None or s_broke > SENDER_WITHIN:
        problems.append("%s: the sender did not notice within %d s" % (label, SENDER_WITHIN))
    if r_broke is None or r_broke > RECEIVER_WITHIN:
        problems.append("%s: the receiver did not notice within %d s" % (label, RECEIVER_WITHIN))
    if path == "direct/tcp" and "nothing was acknowledged" not in s_note:
        problems.append("%s: the sender did not say that nothing was acknowledged" % label)
    if resumed is None:
        problems.append("%s: the transfer did not continue from the part file" % label)
    if sender.returncode != 0 or receiver.returncode != 0:
        problems.append("%s: not both succeeded (sender %s, receiver %s)" % (
            label, sender.returncode, receiver.returncode))
    if not intact:
        problems.append("%s: the received file is not the one sent" % label)
    if after and after[-1].split("/")[0] != "relay":
        problems.append("%s: continued on %s, where only the relay works" % (label, after[-1]))
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
