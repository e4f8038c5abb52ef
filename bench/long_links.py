#!/usr/bin/env python3
"""Issue 16's link figures, in the network lab (root): two public hosts on 100 Mbit/s links with
80 or 200 ms of round trip between them (NFQUEUE delay) and 0 or 1 % loss, every lab host on CUBIC;
then a clean 1 Gbit/s link. On each link, in the same run:
  - ferry's direct TCP (FERRY_NO_UDP=1), ferry's QUIC on the punched socket (FERRY_NO_TCP=1),
    ferry through the relay (--force-relay: over TCP and UDP at once, the faster kept) and through
    the relay over UDP alone (FERRY_NO_RELAY_TCP=1), each moving BENCH_SIZE (100 MiB), as a ratio to the
    link's configured rate (goal >= 0.8 at 80 ms, >= 0.7 at 200 ms, with 1 % loss) and, on the
    1 Gbit/s link, to iperf3 (goal >= 0.9);
  - ferry as an unprivileged user would run it ("auto, unprivileged": both clients as nobody, no
    path forced, BBR not allowed to unprivileged processes during the run, as on a stock Debian
    or Ubuntu, so their TCP runs CUBIC): the transfer tries TCP and QUIC and keeps the one that
    moves more; and the same clients through the relay ("relay, unprivileged": the relay over TCP
    and over UDP, the faster kept), both stopped after BENCH_UNPRIVILEGED_CAP, 60 s ("-");
  - iperf3 TCP for BENCH_IPERF_SECONDS (15) with the hosts' CUBIC, and with BBR (-C bbr);
  - scp of the same file to a real sshd on the receiving host, stopped after BENCH_SCP_CAP (60) s
    (its rate is then what arrived by then).
ferry's rate is the receiver's own (bytes / seconds of its `done` event: the transfer, without the
rendezvous); "wall" adds everything from the receiver's start, rendezvous and PAKE included.
Medians of BENCH_RUNS (3). BENCH_SHAPES picks links, e.g. "80:0,80:10,200:10" (RTT ms:loss per mille).
"""
import json
import os
import shutil
import subprocess
import sys
import time

from benchlib import RUNS, median, random_file, tmpdir, FERRY

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))
from lab import Lab, start_server  # noqa: E402

SIZE = int(os.environ.get("BENCH_SIZE", 100 << 20))
IPERF_SECONDS = int(os.environ.get("BENCH_IPERF_SECONDS", "15"))
SCP_CAP = int(os.environ.get("BENCH_SCP_CAP", "60"))
FERRY_CAP = 180
SHAPES = [tuple(int(x) for x in s.split(":")) for s in
          os.environ.get("BENCH_SHAPES", "80:0,80:10,200:0,200:10").split(",") if s]
GOAL = {80: 0.8, 200: 0.7}
# label, environment, flags, the transport it must end on, whether it runs unprivileged
PATHS = (("direct TCP", {"FERRY_NO_UDP": "1"}, (), "tcp", False),
         ("QUIC", {"FERRY_NO_TCP": "1"}, (), "quic", False),
         ("relay", {}, ("--force-relay",), None, False),
         ("relay over UDP", {"FERRY_NO_RELAY_TCP": "1"}, ("--force-relay",), "quic", False),
         ("auto, unprivileged", {}, (), None, True),
         ("relay, unprivileged", {}, ("--force-relay",), None, True))
# BENCH_PATHS picks some of them by label, separated by ";" (default: all).
if os.environ.get("BENCH_PATHS"):
    PATHS = tuple(p for p in PATHS if p[0] in os.environ["BENCH_PATHS"].split(";"))
# An unprivileged run that has not finished by then is stopped ("-"): its TCP to the relay runs
# CUBIC, which a lossy long link takes to a few percent of its rate.
UNPRIVILEGED_CAP = int(os.environ.get("BENCH_UNPRIVILEGED_CAP", "60"))
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
ALLOWED_CC = "/proc/sys/net/ipv4/tcp_allowed_congestion_control"


def ns_run(ns, args, timeout, **kw):
    return subprocess.run(["ip", "netns", "exec", ns] + [str(a) for a in args], capture_output=True,
                          text=True, timeout=timeout, **kw)


def ferry_once(lab, url, src, work, code, env_extra, flags, transport, unprivileged):
    out = os.path.join(work, "out")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    os.chmod(out, 0o777)
    env = dict(lab.env("A"), **env_extra)
    who = NOBODY if unprivileged else []
    if unprivileged:
        env["HOME"] = work
    s = lab.spawn(lab.hosts["A"], who + [FERRY, "send", "--json", "--server", url, "--code", code]
                  + list(flags) + [src], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                  env=env)
    assert json.loads(s.stdout.readline())["event"] == "code"
    start = time.monotonic()
    try:
        r = ns_run(lab.hosts["B"], who + [FERRY, "receive", "--json", "--yes", "--server", url,
                                          "--output", out] + list(flags) + [code],
                   UNPRIVILEGED_CAP if unprivileged else FERRY_CAP,
                   env=dict(lab.env("B"), **env_extra, **({"HOME": work} if unprivileged else {})))
    except subprocess.TimeoutExpired as e:
        # Stopped at the cap: say which pipes it ran on and what the sender measured, so a slow
        # run can be told from a stuck one.
        s.kill()
        sent, _ = s.communicate()
        got = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        paths = [ev for ev in map(json.loads, filter(str.strip, got.splitlines()))
                 if ev["event"] in ("connected", "progress")]
        notes = [ev["text"] for ev in map(json.loads, filter(str.strip, sent.splitlines()))
                 if ev["event"] == "note"]
        print("  (stopped after %d s: %s; %.1f MB arrived; sender: %s)" % (
            UNPRIVILEGED_CAP if unprivileged else FERRY_CAP,
            " then ".join("%s/%s" % (ev["path"], ev["transport"]) for ev in paths
                          if ev["event"] == "connected"),
            max([ev["bytes"] for ev in paths if ev["event"] == "progress"] or [0]) / 1e6,
            notes), flush=True)
        return None, None
    wall = time.monotonic() - start
    s.wait(30)
    if r.returncode != 0:
        sys.exit("ferry failed: " + r.stderr)
    events = [json.loads(ln) for ln in r.stdout.splitlines() if ln.strip()]
    connected = [ev for ev in events if ev["event"] == "connected"]
    if transport and connected[-1]["transport"] != transport:
        sys.exit("ferry ended on %s, not %s" % (connected[-1]["transport"], transport))
    done = next(ev for ev in events if ev["event"] == "done")
    shutil.rmtree(out)
    return done["bytes"] / done["seconds"] / 1e6, SIZE / wall / 1e6


def iperf3(lab, cc):
    dst = lab.wan_ip["B"]
    srv = lab.spawn(lab.hosts["B"], ["iperf3", "-s", "-1", "-B", dst], stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    args = ["iperf3", "-J", "-c", dst, "-t", IPERF_SECONDS] + (["-C", cc] if cc else [])
    out = ns_run(lab.hosts["A"], args, IPERF_SECONDS + 60).stdout
    srv.wait(10)
    return json.loads(out)["end"]["sum_received"]["bits_per_second"] / 8e6


def start_sshd(lab, work):
    keys = os.path.join(work, "ssh")
    shutil.rmtree(keys, ignore_errors=True)
    os.makedirs(keys, mode=0o700)
    host_key, user_key = os.path.join(keys, "host"), os.path.join(keys, "user")
    for k in (host_key, user_key):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", k], check=True)
    shutil.copy(user_key + ".pub", os.path.join(keys, "authorized_keys"))
    os.makedirs("/run/sshd", exist_ok=True)
    lab.spawn(lab.hosts["B"], ["/usr/sbin/sshd", "-D", "-e", "-p", "22", "-h", host_key,
                               "-o", "ListenAddress=" + lab.wan_ip["B"],
                               "-o", "AuthorizedKeysFile=" + os.path.join(keys, "authorized_keys"),
                               "-o", "PermitRootLogin=yes", "-o", "StrictModes=no", "-o", "UsePAM=no",
                               "-o", "PidFile=none"], stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return user_key


def scp_once(lab, key, src, work):
    dst = os.path.join(work, "scp.bin")
    if os.path.exists(dst):
        os.remove(dst)
    start = time.monotonic()
    p = lab.spawn(lab.hosts["A"], ["scp", "-q", "-i", key, "-o", "StrictHostKeyChecking=no",
                                   "-o", "UserKnownHostsFile=/dev/null", src,
                                   "root@%s:%s" % (lab.wan_ip["B"], dst)])
    try:
        p.wait(SCP_CAP)
        finished = p.returncode == 0
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        finished = False
    elapsed = time.monotonic() - start
    got = os.path.getsize(dst) if os.path.exists(dst) else 0
    return got / elapsed / 1e6, finished


def fmt(xs):
    return ", ".join("-" if x is None else "%.1f" % x for x in xs)


def one_link(work, src, rtt, loss, rate):
    link_mb_s = rate / 8.0
    with Lab("public", "public", loss_permille=loss, rate_mbit=rate, delay_ms=rtt // 4) as lab:
        url = start_server(lab)
        key = start_sshd(lab, work)
        results = {p[0]: [] for p in PATHS}
        walls = {p[0]: [] for p in PATHS}
        cubic, bbr, scp, scp_done = [], [], [], []
        for i in range(RUNS):
            for n, (label, env, flags, transport, unprivileged) in enumerate(PATHS):
                got, wall = ferry_once(lab, url, src, work, "%d-acorn-zebra" % (100 + 10 * i + n), env,
                                       flags, transport, unprivileged)
                results[label].append(got)
                walls[label].append(wall)
            cubic.append(iperf3(lab, None))
            bbr.append(iperf3(lab, "bbr"))
            rate_scp, finished = scp_once(lab, key, src, work)
            scp.append(rate_scp)
            scp_done.append(finished)
    name = "%d Mbit/s, %d ms RTT, %s loss" % (rate, rtt, "%.0f %%" % (loss / 10) if loss else "no")
    print("== %s (link %.1f MB/s; %d MiB; medians of %d)" % (name, link_mb_s, SIZE >> 20, RUNS))
    ref_cubic = median(cubic)
    for label in results:
        xs = results[label]
        ok = [x for x in xs if x is not None]
        m = median(ok) if ok else None
        line = "  ferry %-18s %6s MB/s (runs %s; wall %s)" % (
            label, "%.1f" % m if m else "-", fmt(xs), fmt(walls[label]))
        if m:
            line += " -> %.2f of the link" % (m / link_mb_s)
            if rtt in GOAL and loss:
                line += " (goal >= %.1f)" % GOAL[rtt]
            line += ", %.2f of iperf3 CUBIC" % (m / ref_cubic)
            if not rtt and not loss:
                line += " (goal >= 0.9)"
        print(line)
    print("  iperf3 CUBIC             %6.1f MB/s (runs %s) -> %.2f of the link" % (ref_cubic, fmt(cubic),
                                                                            ref_cubic / link_mb_s))
    print("  iperf3 BBR               %6.1f MB/s (runs %s) -> %.2f of the link" % (median(bbr), fmt(bbr),
                                                                            median(bbr) / link_mb_s))
    print("  scp                     %6.1f MB/s (runs %s%s) -> %.2f of the link" % (
        median(scp), fmt(scp), "" if all(scp_done) else "; stopped after %d s" % SCP_CAP,
        median(scp) / link_mb_s))
    sys.stdout.flush()


def main():
    if os.geteuid() != 0:
        sys.exit("long_links.py builds network namespaces: run it as root")
    work = tmpdir()
    os.chmod(work, 0o777)  # the unprivileged clients' HOME and output
    with open(ALLOWED_CC) as f:
        allowed = f.read().strip()
    try:
        src = os.path.join(work, "file.bin")
        random_file(src, SIZE)
        os.chmod(src, 0o644)
        with open(ALLOWED_CC, "w") as f:
            f.write("reno cubic")  # for the unprivileged clients; root may choose any
        for rtt, loss in SHAPES:
            one_link(work, src, rtt, loss, 100)
        if os.environ.get("BENCH_GIGABIT", "1") == "1":
            one_link(work, src, 0, 0, 1000)
    finally:
        with open(ALLOWED_CC, "w") as f:
            f.write(allowed)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
