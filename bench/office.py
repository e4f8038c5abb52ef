#!/usr/bin/env python3
"""Through the office proxy that reads everything (issue 35): Debian's squid-openssl intercepting
TLS (ssl_bump bump all), the company CA trusted by the clients, the ferry server on TLS, on
loopback. A relayed transfer (BENCH_OFFICE_MB, 200 MB) through squid

  refused:  with squid's defaults: it removes the WebSocket upgrade, ferry rides HTTPS requests
  allowed:  with `http_upgrade_request_protocols websocket allow all`: the WebSocket relay

Printed per round and as medians of BENCH_RUNS rounds (3): the seconds from the receiver's start
to its "connected", throughput, and the server's CPU seconds per relayed GB; then the ratios of
refused to allowed measured in the same run (goals: throughput >= 0.7, CPU per GB <= 2)."""
import os
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from benchlib import RUNS  # noqa: E402
from ferrylib import Run, Server, write_random  # noqa: E402
from test_office import Squid, openssl  # noqa: E402

MB = int(os.environ.get("BENCH_OFFICE_MB", "200"))


def one(tmp, mode, path, n):
    cert = os.path.join(tmp, "server.pem")
    key = os.path.join(tmp, "server.key")
    if not os.path.exists(cert):
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                "-nodes", "-days", "1", "-subj", "/CN=localhost", "-addext",
                "subjectAltName=DNS:localhost", "-keyout", key, "-out", cert)
        os.chmod(cert, 0o644)
    extra = "http_upgrade_request_protocols websocket allow all\n" if mode == "allowed" else ""
    squid_dir = os.path.join(tmp, "%s-%d" % (mode, n))
    os.makedirs(squid_dir)
    out = os.path.join(tmp, "out-%s-%d" % (mode, n))
    os.makedirs(out)
    # An office behind one address: squid opens a server connection per upload.
    with Server(["--tls-cert", cert, "--tls-key", key, "--connects-per-second-per-address",
                 "200"]) as srv, Squid(squid_dir, cert, extra) as squid:
        env = {"https_proxy": "http://127.0.0.1:%d" % squid.port, "SSL_CERT_FILE": squid.ca,
               "FERRY_NO_RELAY_UDP": "1", "FERRY_NO_UDP": "1"}
        server = "https://localhost:%d" % srv.port
        s = Run(["send", "--server", server, "--force-relay", path], env=env)
        code = s.wait_event("code")["code"]
        cpu0 = srv.cpu_seconds()
        start = time.monotonic()
        r = Run(["receive", "--server", server, "--yes", "--force-relay", "--output", out, code],
                env=env)
        connected = r.wait_event("connected")
        connected_s = time.monotonic() - start
        rc = r.finish(600)
        assert rc == 0, (r.stderr, s.finish(), s.stderr)
        assert s.finish() == 0
        done = r.event("done")
        cpu = srv.cpu_seconds() - cpu0
        shutil.rmtree(out)
        return {"carrier": connected["carrier"], "connected_s": connected_s,
                "mb_s": MB / done["seconds"], "cpu_per_gb": cpu / (MB / 1000)}


def main():
    tmp = tempfile.mkdtemp(prefix="ferry-office-")
    os.chmod(tmp, 0o755)  # squid runs as the proxy user
    try:
        path = os.path.join(tmp, "f.bin")
        write_random(path, MB * 1_000_000)
        rows = {"refused": [], "allowed": []}
        for n in range(RUNS):
            for mode in rows:
                got = one(tmp, mode, path, n)
                rows[mode].append(got)
                print("round %d %-8s over %-15s connected %.2f s  %7.1f MB/s  server CPU %.2f s/GB"
                      % (n + 1, mode, got["carrier"], got["connected_s"], got["mb_s"],
                         got["cpu_per_gb"]), flush=True)
        med = {m: {k: statistics.median(r[k] for r in rows[m])
                   for k in ("connected_s", "mb_s", "cpu_per_gb")} for m in rows}
        for m in rows:
            print("median %-8s connected %.2f s  %7.1f MB/s  server CPU %.2f s/GB"
                  % (m, med[m]["connected_s"], med[m]["mb_s"], med[m]["cpu_per_gb"]))
        print("throughput, HTTPS requests / WebSocket through the same proxy: %.2f (goal >= 0.7)"
              % (med["refused"]["mb_s"] / med["allowed"]["mb_s"]))
        print("server CPU per GB, HTTPS requests / WebSocket: %.2f (goal <= 2)"
              % (med["refused"]["cpu_per_gb"] / med["allowed"]["cpu_per_gb"]))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
