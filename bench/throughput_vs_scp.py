#!/usr/bin/env python3
"""Issue 2 figure: loopback throughput of a 1 GiB transfer on the direct path, in MB/s and as a ratio
to scp of the same file to localhost (a real sshd started here), medians of BENCH_RUNS runs.
Also the relayed path (--force-relay) as a ratio to direct (issue 5's figure)."""
import itertools
import os
import shutil
import subprocess
import time

from benchlib import RUNS, Server, done_event, median, random_file, tmpdir, transfer

SIZE = int(os.environ.get("BENCH_SIZE", 1 << 30))


def start_sshd(work):
    port = 22000 + os.getpid() % 1000
    host_key = os.path.join(work, "host_key")
    user_key = os.path.join(work, "user_key")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", host_key], check=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", user_key], check=True)
    auth = os.path.join(work, "authorized_keys")
    shutil.copy(user_key + ".pub", auth)
    os.chmod(work, 0o700)
    os.makedirs("/run/sshd", exist_ok=True)
    sshd = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-p", str(port), "-h", host_key,
                             "-o", "ListenAddress=127.0.0.1", "-o", "AuthorizedKeysFile=" + auth,
                             "-o", "PermitRootLogin=yes", "-o", "StrictModes=no", "-o", "UsePAM=no",
                             "-o", "PidFile=none"], stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return sshd, port, user_key


def main():
    work = tmpdir()
    try:
        src = os.path.join(work, "big.bin")
        random_file(src, SIZE)
        sshd, port, key = start_sshd(work)
        numbers = itertools.count(500)
        ferry, relay, scp = [], [], []
        try:
            with Server() as srv:
                # One unmeasured warm-up transfer: the first run after writing the file is cold.
                out = os.path.join(work, "warm-up")
                os.makedirs(out)
                transfer(srv, src, out, "%d-acorn-zebra" % next(numbers))
                shutil.rmtree(out)
                for i in range(RUNS):
                    for label, extra, results in (("direct", (), ferry), ("relay", ("--force-relay",), relay)):
                        out = os.path.join(work, "out-%s-%d" % (label, i))
                        os.makedirs(out)
                        code = "%d-acorn-zebra" % next(numbers)
                        events, _, _, _ = transfer(srv, src, out, code, send_extra=extra, recv_extra=extra)
                        done = done_event(events)
                        results.append(done["bytes"] / done["seconds"] / 1e6)
                        shutil.rmtree(out)
                    dst = os.path.join(work, "scp-%d.bin" % i)
                    os.sync()
                    start = time.monotonic()
                    subprocess.run(["scp", "-q", "-P", str(port), "-i", key, "-o", "StrictHostKeyChecking=no",
                                    "-o", "UserKnownHostsFile=/dev/null", src, "root@127.0.0.1:" + dst], check=True)
                    scp.append(SIZE / (time.monotonic() - start) / 1e6)
                    os.remove(dst)
        finally:
            sshd.terminate()
        print("runs: %d, file: %d MiB" % (RUNS, SIZE >> 20))
        print("ferry direct MB/s: %s" % ", ".join("%.0f" % x for x in ferry))
        print("ferry relay  MB/s: %s" % ", ".join("%.0f" % x for x in relay))
        print("scp          MB/s: %s" % ", ".join("%.0f" % x for x in scp))
        print("median ferry direct: %.0f MB/s  (goal >= 400)" % median(ferry))
        print("median scp:          %.0f MB/s" % median(scp))
        print("ratio ferry/scp:     %.2f  (goal >= 1.0)" % (median(ferry) / median(scp)))
        print("median ferry relay:  %.0f MB/s" % median(relay))
        print("ratio relay/direct:  %.2f  (goal >= 0.7)" % (median(relay) / median(ferry)))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
