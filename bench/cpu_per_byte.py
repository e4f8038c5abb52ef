#!/usr/bin/env python3
"""Issue 16's loopback figures (medians of BENCH_RUNS, 3):
  - a BENCH_SIZE (1 GiB) direct transfer: CPU-seconds (user + system) per GB for the sender and
    the receiver (goal <= 1.2 each), and its MB/s as a ratio to scp of the same file to a real
    sshd on 127.0.0.1 in the same run (goal >= 2.5);
  - the same file through the relay (--force-relay): the server's CPU-seconds per relayed GB
    (goal <= 0.1), next to the floor: what a bare splice(2) forwarder (splice_forward.py) spends
    on the same bytes between two loopback TCP connections in the same run;
  - BENCH_FILES (10,000) files of 4 KiB: files per second, next to `tar c | ssh tar x` in the
    same run.
"""
import json
import os
import shutil
import socket
import subprocess
import threading
import sys
import time

from benchlib import FERRY, RUNS, Server, median, random_file, tmpdir
from throughput_vs_scp import start_sshd

SIZE = int(os.environ.get("BENCH_SIZE", 1 << 30))
FILES = int(os.environ.get("BENCH_FILES", "10000"))
SSH_OPTS = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]


def cpu_of(pid):
    """utime + stime of a live process, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_pair(srv, src, out, code, extra=()):
    """Runs one send/receive pair; returns (sender cpu s, receiver cpu s, transfer seconds, wall)."""
    os.sync()
    s = subprocess.Popen([FERRY, "send", "--json", "--server", srv.url, "--code", code] + list(extra)
                         + [src], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    s.stdout.readline()
    start = time.monotonic()
    r = subprocess.Popen([FERRY, "receive", "--json", "--yes", "--server", srv.url, "--output", out]
                         + list(extra) + [code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    r_out = r.stdout.read()
    _, r_status, r_usage = os.wait4(r.pid, 0)
    wall = time.monotonic() - start
    s.stdout.read()
    _, s_status, s_usage = os.wait4(s.pid, 0)
    r.returncode, s.returncode = r_status, s_status  # already reaped
    if r_status != 0 or s_status != 0:
        sys.exit("transfer failed: " + s.stderr.read() + r.stderr.read())
    done = next(json.loads(ln) for ln in r_out.splitlines() if '"done"' in ln)
    return (s_usage.ru_utime + s_usage.ru_stime, r_usage.ru_utime + r_usage.ru_stime,
            done["seconds"], wall)


def forwarder_cpu(src, size):
    """CPU-seconds of splice_forward.py moving src's bytes from one loopback connection to another."""
    sink = socket.create_server(("127.0.0.1", 0))

    def drain():
        conn, _ = sink.accept()
        with conn:
            while conn.recv(1 << 20):
                pass

    reader = threading.Thread(target=drain)
    reader.start()
    fwd = subprocess.Popen([sys.executable, os.path.join(os.path.dirname(__file__), "splice_forward.py"),
                            "0", str(sink.getsockname()[1])], stdout=subprocess.PIPE, text=True)
    port = int(fwd.stdout.readline())
    with socket.create_connection(("127.0.0.1", port)) as out, open(src, "rb") as f:
        out.sendfile(f, 0, size)
        out.shutdown(socket.SHUT_WR)
        while out.recv(4096):
            pass
    _, status, usage = os.wait4(fwd.pid, 0)
    fwd.returncode = status
    reader.join()
    sink.close()
    if status != 0:
        sys.exit("splice_forward.py failed")
    return usage.ru_utime + usage.ru_stime


def main():
    work = tmpdir()
    try:
        src = os.path.join(work, "big.bin")
        random_file(src, SIZE)
        small = os.path.join(work, "small")
        os.makedirs(small)
        for i in range(FILES):
            with open(os.path.join(small, "f%05d" % i), "wb") as f:
                f.write(os.urandom(4096))
        sshd, port, key = start_sshd(work)
        gb = SIZE / 1e9
        send_cpu, recv_cpu, rate, scp, relay_cpu, floor, files, tar = [], [], [], [], [], [], [], []
        n = 300
        try:
            with Server() as srv:
                out = os.path.join(work, "out")
                os.makedirs(out)
                timed_pair(srv, src, out, "%d-acorn-zebra" % n)  # warm-up
                shutil.rmtree(out)
                for i in range(RUNS):
                    n += 1
                    os.makedirs(out)
                    s_cpu, r_cpu, seconds, _ = timed_pair(srv, src, out, "%d-acorn-zebra" % n)
                    send_cpu.append(s_cpu / gb)
                    recv_cpu.append(r_cpu / gb)
                    rate.append(SIZE / seconds / 1e6)
                    shutil.rmtree(out)

                    n += 1
                    os.makedirs(out)
                    before = cpu_of(srv.proc.pid)
                    timed_pair(srv, src, out, "%d-acorn-zebra" % n, ("--force-relay",))
                    relay_cpu.append((cpu_of(srv.proc.pid) - before) / gb)
                    shutil.rmtree(out)
                    floor.append(forwarder_cpu(src, SIZE) / gb)

                    dst = os.path.join(work, "scp.bin")
                    os.sync()
                    start = time.monotonic()
                    subprocess.run(["scp", "-q", "-P", str(port), "-i", key] + SSH_OPTS
                                   + [src, "root@127.0.0.1:" + dst], check=True)
                    scp.append(SIZE / (time.monotonic() - start) / 1e6)
                    os.remove(dst)

                    n += 1
                    os.makedirs(out)
                    _, _, _, wall = timed_pair(srv, small, out, "%d-acorn-zebra" % n)
                    files.append(FILES / wall)
                    shutil.rmtree(out)

                    os.makedirs(out)
                    os.sync()
                    start = time.monotonic()
                    subprocess.run("tar cf - -C %s small | ssh -p %d -i %s %s root@127.0.0.1 'tar xf - -C %s'"
                                   % (work, port, key, " ".join(SSH_OPTS), out), shell=True, check=True,
                                   stderr=subprocess.DEVNULL)
                    tar.append(FILES / (time.monotonic() - start))
                    shutil.rmtree(out)
        finally:
            sshd.terminate()
        print("loopback, %d MiB, medians of %d runs" % (SIZE >> 20, RUNS))
        print("sender   CPU-seconds per GB: %.2f (runs %s)  (goal <= 1.2)" % (
            median(send_cpu), ", ".join("%.2f" % x for x in send_cpu)))
        print("receiver CPU-seconds per GB: %.2f (runs %s)  (goal <= 1.2)" % (
            median(recv_cpu), ", ".join("%.2f" % x for x in recv_cpu)))
        print("direct %.0f MB/s, scp %.0f MB/s -> ratio %.2f  (goal >= 2.5)" % (
            median(rate), median(scp), median(rate) / median(scp)))
        print("relay (server) CPU-seconds per GB: %.3f (runs %s)  (goal <= 0.1)" % (
            median(relay_cpu), ", ".join("%.3f" % x for x in relay_cpu)))
        print("  a bare splice forwarder on the same loopback: %.3f (runs %s) -> relay / floor %.2f" % (
            median(floor), ", ".join("%.3f" % x for x in floor), median(relay_cpu) / median(floor)))
        print("%d files of 4 KiB: ferry %.0f files/s, tar | ssh %.0f files/s -> ratio %.2f" % (
            FILES, median(files), median(tar), median(files) / median(tar)))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
