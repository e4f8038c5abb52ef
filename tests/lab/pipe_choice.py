#!/usr/bin/env python3
"""Keeping the pipe that moves more (issue 16), as an unprivileged user lives it: two public hosts
(direct TCP and QUIC both open) on 100 Mbit/s links with 80 ms of round trip and 1 % loss, both
ferry clients run as nobody with BBR not allowed to unprivileged processes (Debian's and Ubuntu's
default, "reno cubic"), so their TCP runs CUBIC, which such a link takes to a few percent of its
rate. The sender says its TCP is loss-based, so the receiver holds a TCP pipe a moment for QUIC,
which then usually wins outright; if TCP wins all the same, the sender must try the other one
during the transfer, measure both, and finish on QUIC; the file must arrive intact. Where no direct path exists (both
behind symmetric NATs) the same holds for the relay: the transfer starts on the relay over TCP or
over UDP, tries the other if it started on TCP, and finishes on the relay over UDP (QUIC through
the relay).
And the other way: on a clean 20 Mbit/s link where the sides' UDP is policed to 2 Mbit/s, a QUIC
tried beside TCP (or winning first) must lose to it, and the transfer finishes on TCP, having
moved back to it if it started there. And a trial kept that falls behind later: on a clean 20 Mbit/s
link with the sides' TCP policed to 2 Mbit/s, the transfer starts on TCP, tries QUIC and keeps it;
then the policing moves to UDP (to a fifth of what TCP moved), and the transfer must fall back to
TCP, left open for this, and finish there."""
import filecmp
import json
import os
import re
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lab import FERRY, Lab, nft, payload, root_or_skip, sh, start_server, wait_for_code  # noqa: E402

SIZE = 24 << 20
# Through the relay each TCP leg has half the round trip, and CUBIC sometimes carries 24 MiB at
# 10 MB/s before its first losses (it did in the lab): enough bytes that it must slow down.
RELAY_SIZE = 64 << 20
SLOW_UDP_SIZE = 48 << 20
FALL_BACK_SIZE = 32 << 20
POLICE = """
table ip police {
  chain forward {
    type filter hook forward priority -10; policy accept;
    ip saddr 203.0.113.0/24 ip daddr 203.0.113.0/24 meta l4proto %s limit rate over %d kbytes/second burst 256 kbytes drop
  }
}
"""
SLOW_UDP = """
table ip slowudp {
  chain forward {
    type filter hook forward priority -10; policy accept;
    ip saddr 203.0.113.0/24 ip daddr 203.0.113.0/24 meta l4proto udp limit rate over 250 kbytes/second drop
  }
}
"""
ALLOWED_CC = "/proc/sys/net/ipv4/tcp_allowed_congestion_control"
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def events_of(text):
    return [json.loads(l) for l in text.splitlines() if l.strip().startswith("{")]


def as_nobody(lab, side, args, home):
    env = lab.env(side)
    env["HOME"] = home
    return lab.spawn(lab.hosts[side], NOBODY + [FERRY] + list(args), stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE, text=True, env=env)


def check(side, text, err, rc, want, path, problems, either=False):
    """The side's path events: on `path` only, both transports carried the transfer (either:
    or want alone, from the start), the last is want."""
    connected = [e for e in events_of(text) if e["event"] == "connected"]
    done = [e for e in events_of(text) if e["event"] == "done"]
    print("  %s (exit %d, %s): %s" % (
        side, rc, "%.1f s" % done[-1]["seconds"] if done else "not done", " then ".join(
            "%s/%s%s" % (e["path"], e["transport"], " (moved)" if e.get("moved") else "")
            for e in connected)))
    if rc != 0:
        problems.append("the %s failed: %s" % (side, err.strip()[-300:]))
    if not connected or any(e["path"] != path for e in connected):
        problems.append("the %s was not on %s paths only (the test's premise)" % (side, path))
    elif connected[-1]["transport"] != want:
        problems.append("the %s finished on %s, not %s" % (side, connected[-1]["transport"], want))
    alone = connected and {e["transport"] for e in connected} == {want}
    if len({e["transport"] for e in connected}) < 2 and not (either and alone):
        problems.append("the %s never carried the transfer on both transports" % side)


def judge(r, s, notes, delivered, want, note, problems, path="direct", either=False):
    """Both sides ended on want, the sender said note (what it measured) unless (either) want won
    the race outright, the file is intact."""
    check("receiver", *r, want, path, problems, either)
    check("sender", *s, want, path, problems, either)
    started = [e for e in events_of(s[0]) if e["event"] == "connected"][:1]
    outright = either and started and started[0]["transport"] == want
    if not outright and not any(n.startswith(note) for n in notes):
        problems.append("the sender never said %r" % note)
    if not delivered:
        problems.append("the file did not arrive intact")


def transfer(lab, size, run, problems):
    """One transfer from A to B; returns the sender's notes and whether the file arrived."""
    url = start_server(lab)
    src, out = payload(lab, size)
    os.chmod(out, 0o777)
    sender = run(lab, "A", ["send", "--json", "--server", url, src])
    code = wait_for_code(sender)
    assert code, sender.stderr.read()
    receiver = run(lab, "B", ["receive", "--json", "--yes", "--server", url, "--output", out, code])
    r_out, r_err = receiver.communicate(timeout=150)
    s_out, s_err = sender.communicate(timeout=30)
    delivered = os.path.exists(os.path.join(out, "payload.bin")) and filecmp.cmp(
        src, os.path.join(out, "payload.bin"), shallow=False)
    notes = [e["text"] for e in events_of(s_out) if e["event"] == "note"]
    print("  sender notes: %s" % notes)
    return (r_out, r_err, receiver.returncode), (s_out, s_err, sender.returncode), notes, delivered


def lossy_long_link_unprivileged(problems, nat="public", path="direct"):
    print("80 ms, 1 %% loss, unprivileged clients (CUBIC TCP), %s hosts: must finish on QUIC (%s)"
          % (nat, path))
    with open(ALLOWED_CC) as f:
        allowed = f.read().strip()
    with Lab(nat, nat, loss_permille=10, rate_mbit=100, delay_ms=20) as lab:
        home = os.path.join(lab.tmp, "home")
        os.makedirs(home, mode=0o777)
        os.chmod(home, 0o777)
        try:
            # What an unprivileged process may choose on a stock Debian or Ubuntu (the lab runs
            # one at a time; restored below, whatever happens).
            with open(ALLOWED_CC, "w") as f:
                f.write("reno cubic")
            r, s, notes, delivered = transfer(
                lab, RELAY_SIZE if path == "relay" else SIZE,
                lambda lab, side, args: as_nobody(lab, side, args, home), problems)
        finally:
            with open(ALLOWED_CC, "w") as f:
                f.write(allowed)
    # QUIC usually wins the race outright (the receiver holds TCP for it: 7 of 8 runs here, the
    # eighth lost a QUIC handshake packet): then it carries the whole transfer, nothing to try.
    judge(r, s, notes, delivered, "quic", "Trying ", problems, path, either=True)


def slow_udp(problems):
    print("20 Mbit/s, UDP between the sides policed to 2 Mbit/s: must finish on TCP")
    with Lab("public", "public", rate_mbit=20) as lab:
        nft(lab.inet, SLOW_UDP)
        r, s, notes, delivered = transfer(
            lab, SLOW_UDP_SIZE,
            lambda lab, side, args: lab.spawn(lab.hosts[side], [FERRY] + list(args),
                                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                              text=True, env=lab.env(side)), problems)
    judge(r, s, notes, delivered, "tcp", "Keeping tcp", problems)


def trial_kept_falls_behind(problems):
    print("20 Mbit/s, TCP policed to 2 Mbit/s, then UDP (harder) once QUIC is kept: "
          "must fall back to TCP")
    with Lab("public", "public", rate_mbit=20) as lab:
        nft(lab.inet, POLICE % ("tcp", 250))
        url = start_server(lab)
        src, out = payload(lab, FALL_BACK_SIZE)
        sender = lab.spawn(lab.hosts["A"], [FERRY, "send", "--json", "--server", url, src],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=lab.env("A"))
        code = wait_for_code(sender)
        assert code, sender.stderr.read()
        receiver = lab.spawn(lab.hosts["B"], [FERRY, "receive", "--json", "--yes", "--server",
                                              url, "--output", out, code],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=lab.env("B"))
        # The receiver's events are read meanwhile (a full pipe would stall it).
        got = {}
        reader = threading.Thread(target=lambda: got.update(
            zip(("out", "err"), receiver.communicate(timeout=150))))
        reader.start()
        s_lines, swapped = [], False
        for line in sender.stdout:  # until it exits
            s_lines.append(line)
            ev = json.loads(line) if line.startswith("{") else {}
            text = ev.get("text", "") if ev.get("event") == "note" else ""
            kept = re.search(r"^Keeping quic: .*, tcp ([\d.]+) (B|kB|MB)/s", text)
            if kept and not swapped:
                # QUIC is kept: now UDP suffers (a fifth of what TCP was measured to move, so
                # QUIC falls below half of it whatever that was), and TCP is free.
                tcp = float(kept.group(1)) * {"B": 1, "kB": 1e3, "MB": 1e6}[kept.group(2)]
                sh("nft", "delete", "table", "ip", "police", ns=lab.inet)
                nft(lab.inet, POLICE % ("udp", max(1, int(tcp / 5000))))
                swapped = True
            elif text.startswith("Back to tcp") and swapped:
                # What QUIC still holds drains before TCP's bytes are read: let it go.
                sh("nft", "delete", "table", "ip", "police", ns=lab.inet)
        sender.wait(30)
        reader.join(160)
        r_out, r_err = got.get("out", ""), got.get("err", "")
        s_out, s_err = "".join(s_lines), sender.stderr.read()
        delivered = os.path.exists(os.path.join(out, "payload.bin")) and filecmp.cmp(
            src, os.path.join(out, "payload.bin"), shallow=False)
    notes = [e["text"] for e in events_of(s_out) if e["event"] == "note"]
    print("  sender notes: %s" % notes)
    if not swapped:
        problems.append("the sender never kept QUIC (the test's premise): %s" % notes)
    judge((r_out, r_err, receiver.returncode), (s_out, s_err, sender.returncode), notes,
          delivered, "tcp", "Back to tcp", problems)


def main():
    if not root_or_skip():
        return 0
    problems = []
    lossy_long_link_unprivileged(problems)
    lossy_long_link_unprivileged(problems, "symmetric", "relay")
    slow_udp(problems)
    trial_kept_falls_behind(problems)
    for p in problems:
        print("FAIL: " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
