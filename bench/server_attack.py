#!/usr/bin/env python3
"""The server under a connection flood (issue 13). A `ferry serve` with its descriptor limit at 256
(where a flood bites soonest) serves honest clients on 127.0.0.1 while attackers on 127.0.0.2-50
open idle WebSockets, half-sent HTTP requests and silent relay connections as fast as they can.
Prints, without and with the attack, in the same run: honest transfers completed per minute
(sender and receiver CLI processes, 256 KiB through the server), and rendezvous latency (a WebSocket
pair allocating and claiming a code until both are paired: median and p99); their ratios; and the
server's CPU while under attack and in the seconds after it. Medians of BENCH_RUNS rounds.
The honest client is one address, so it keeps to the server's default per-address connect rate
(20 a second): a pause of 0.35 s after each transfer (about seven connections), 0.12 s after each
pairing (two). The figures are therefore paced, the same way with and without the attack."""
import multiprocessing
import os
import shutil
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from benchlib import RUNS, median, random_file, tmpdir  # noqa: E402
from ferrylib import Server, receive, send  # noqa: E402
from test_operations import Attack, raise_own_descriptor_limit  # noqa: E402
from wsclient import WebSocket  # noqa: E402

SECONDS = float(os.environ.get("BENCH_SECONDS", "20"))
PAIRINGS = int(os.environ.get("BENCH_PAIRINGS", "100"))
SOURCES = ["127.0.0.%d" % i for i in range(2, 51)]
VERBOSE = os.environ.get("BENCH_VERBOSE") == "1"


def transfers_per_minute(srv, path, out, seconds):
    """Completed transfers per minute, and how many failed."""
    done, n, t0 = 0, 0, time.time()
    while time.time() - t0 < seconds:
        n += 1
        code = "%d-acorn-zebra" % (100 + n)
        s = send(srv, [path], code=code)
        if s.wait_event("code") is None:
            continue
        r = receive(srv, code, out, extra=["--yes", "--overwrite"])
        if r.finish(60) == 0 and s.finish(60) == 0:
            done += 1
        elif VERBOSE:
            print("failed transfer:", r.stderr.decode(errors="replace")[-400:], file=sys.stderr)
        for p in (s, r):
            if p.proc.poll() is None:
                p.kill()
        time.sleep(0.35)
    return done * 60 / (time.time() - t0), n - done


def rendezvous_latencies(port, count):
    """Seconds from opening the sender's WebSocket to both sides paired, for count pairings; and
    how many pairings failed (a connection refused or cut)."""
    out, failed = [], 0
    for _ in range(count):
        t0 = time.perf_counter()
        a = b = None
        try:
            a = WebSocket(port, timeout=10)
            a.recv_json()
            a.send_json({"type": "allocate"})
            nameplate = a.recv_json()["nameplate"]
            b = WebSocket(port, timeout=10)
            b.recv_json()
            b.send_json({"type": "claim", "nameplate": nameplate})
            if b.recv_json()["type"] != "paired" or a.recv_json()["type"] != "paired":
                raise ConnectionError("not paired")
            out.append(time.perf_counter() - t0)
        except (OSError, ConnectionError, KeyError, ValueError):
            failed += 1
        for ws in (a, b):
            if ws is not None:
                ws.close()
        time.sleep(0.12)
    return out, failed


def attack_process(port, stop, attempts):
    """The flood, in its own process: the honest Python client here must not wait on its GIL."""
    raise_own_descriptor_limit()
    with Attack(port, SOURCES) as attack:
        stop.wait()
        attempts.value = attack.attempts


def p99(xs):
    return sorted(xs)[max(0, int(len(xs) * 0.99) - 1)]


def measure(srv, path, out):
    """(transfers/min, rendezvous median s, p99 s, failed transfers, failed pairings)"""
    rate, failed_transfers = transfers_per_minute(srv, path, out, SECONDS)
    lat, failed_pairings = rendezvous_latencies(srv.port, PAIRINGS)
    return rate, statistics.median(lat), p99(lat), failed_transfers, failed_pairings


def one_round(tmp):
    path = os.path.join(tmp, "honest.bin")
    random_file(path, 256 << 10)
    out = os.path.join(tmp, "out")
    os.makedirs(out, exist_ok=True)
    flags = ["--claims-per-minute", "100000", "--relay-connects-per-minute", "100000"]
    with Server(flags, nofile=256) as srv:
        calm = measure(srv, path, out)
        stop, attempts = multiprocessing.Event(), multiprocessing.Value("q", 0)
        attacker = multiprocessing.Process(target=attack_process, args=(srv.port, stop, attempts))
        attacker.start()
        time.sleep(2)
        cpu0, t0 = srv.cpu_seconds(), time.time()
        hostile = measure(srv, path, out)
        cpu_attack = (srv.cpu_seconds() - cpu0) / (time.time() - t0)
        stop.set()
        attacker.join(60)
        attempts = attempts.value / (time.time() - t0 + 2)
        time.sleep(2)
        cpu0, t0 = srv.cpu_seconds(), time.time()
        time.sleep(3)
        cpu_after = (srv.cpu_seconds() - cpu0) / (time.time() - t0)
        m = srv.metrics()
        if VERBOSE:
            print("\n".join(line for line in srv.log().splitlines()
                            if "client=127.0.0.1 " in line + " " and "rendezvous_" not in line),
                  file=sys.stderr)
    return {
        "calm": calm, "attack": hostile, "cpu_attack": cpu_attack, "cpu_after": cpu_after,
        "attempts_per_s": attempts,
        "refused": m["ferry_connections_refused_total"], "evicted": m["ferry_connections_evicted_total"],
    }


def main():
    raise_own_descriptor_limit()
    rounds = []
    for i in range(RUNS):
        tmp = tmpdir()
        try:
            r = one_round(tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        rounds.append(r)
        print("round %d: calm %.0f transfers/min, rendezvous %.1f ms (p99 %.1f); under attack "
              "%.0f transfers/min, rendezvous %.1f ms (p99 %.1f); server CPU %.2f cores under attack, "
              "%.3f after; %.0f attack connections/s, %d refused, %d evicted; failed: %d transfers "
              "and %d pairings calm, %d and %d under attack"
              % (i + 1, r["calm"][0], r["calm"][1] * 1e3, r["calm"][2] * 1e3, r["attack"][0],
                 r["attack"][1] * 1e3, r["attack"][2] * 1e3, r["cpu_attack"], r["cpu_after"],
                 r["attempts_per_s"], r["refused"], r["evicted"], r["calm"][3], r["calm"][4],
                 r["attack"][3], r["attack"][4]), flush=True)
    med = lambda f: median([f(r) for r in rounds])  # noqa: E731
    print("\nmedians of %d rounds (descriptor limit 256, attackers on 49 addresses):" % RUNS)
    print("  honest transfers/min: calm %.0f, under attack %.0f -> ratio %.2f"
          % (med(lambda r: r["calm"][0]), med(lambda r: r["attack"][0]),
             med(lambda r: r["attack"][0] / r["calm"][0])))
    print("  rendezvous latency median: calm %.1f ms, under attack %.1f ms -> ratio %.2f"
          % (med(lambda r: r["calm"][1]) * 1e3, med(lambda r: r["attack"][1]) * 1e3,
             med(lambda r: r["attack"][1] / r["calm"][1])))
    print("  rendezvous latency p99: calm %.1f ms, under attack %.1f ms -> ratio %.2f"
          % (med(lambda r: r["calm"][2]) * 1e3, med(lambda r: r["attack"][2]) * 1e3,
             med(lambda r: r["attack"][2] / r["calm"][2])))
    print("  server CPU: %.2f cores under attack (%.0f attack connections/s), %.3f cores 2 s after"
          % (med(lambda r: r["cpu_attack"]), med(lambda r: r["attempts_per_s"]),
             med(lambda r: r["cpu_after"])))


if __name__ == "__main__":
    main()
