"""The relay from the outside: grants (forged, expired, used), transports (raw, WebSocket, TLS)
and their mixing, no open proxy, each limit ending a session with its own error, metrics, and
many relayed transfers at once through the real CLI."""
import os
import socket
import subprocess
import threading
import time
import unittest

from ferrylib import Server, TempDirTest, receive, send, write_random
from relaylib import (EXPIRED, FORGED, LIMIT, MALFORMED, USED, WAITING, RawRelay, RelayEnded,
                      SplitRelay, WsRelay, hello, http_get, new_key_file, pair, sign_grant)
from wsclient import WebSocket


class RelayProtocolTest(TempDirTest):
    def serve(self, *extra):
        self.key, key_file = new_key_file(self.tmp)
        return Server(["--relay-key-file", key_file] + list(extra))

    def test_forged_expired_and_malformed_hellos_are_refused_with_a_reason(self):
        with self.serve() as srv:
            cases = [
                (hello(b"S", sign_grant(os.urandom(32))), FORGED, "not issued"),
                (hello(b"S", sign_grant(self.key, expires=int(time.time()) - 1)), EXPIRED, "expired"),
                (hello(b"S", sign_grant(self.key), version=9), MALFORMED, "did not understand"),
                (hello(b"X", sign_grant(self.key)), MALFORMED, "did not understand"),
            ]
            for payload, status, text in cases:
                c = RawRelay(srv.port)
                c.send(payload)
                self.assertEqual(c.status(), status)
                end = c.frame()
                self.assertEqual(end[:2], ("end", status))
                self.assertIn(text, end[2])
                self.assertTrue(c.closed())
                c.close()
            # The same over a WebSocket: a status message, then a close frame 4000 + status.
            w = WsRelay(srv.port)
            w.send(hello(b"R", sign_grant(os.urandom(32))))
            self.assertEqual(w.status(), FORGED)
            code, reason = w.close_reason()
            self.assertEqual(code, 4000 + FORGED)
            self.assertIn("not issued", reason)
            m = srv.metrics()
            self.assertEqual(m['ferry_relay_refused_total{reason="forged"}'], 2)
            self.assertEqual(m['ferry_relay_refused_total{reason="expired"}'], 1)
            self.assertEqual(m['ferry_relay_refused_total{reason="malformed"}'], 2)
            # The operator's log says each reason, and who (warnings: these are worth a look).
            for reason in ("forged", "expired", "malformed"):
                line = srv.wait_log("relay_refused reason=" + reason)
                self.assertIsNotNone(line, srv.log())
                self.assertIn("warning", line)
                self.assertIn("client=127.0.0.1", line)

    def test_a_pair_forwards_both_ways_and_a_used_grant_admits_nobody_else(self):
        with self.serve() as srv:
            grant = sign_grant(self.key)
            s, r = pair(srv.port, grant)
            blob = os.urandom(3 << 20)
            threading.Thread(target=s.send, args=(blob,)).start()
            self.assertEqual(r.read_data(len(blob)), blob)
            r.send(b"ack")
            self.assertEqual(s.read_data(3), b"ack")
            # A second pair with the same grant: accepted as well-formed, refused as used.
            for side in (b"S", b"R"):
                third = RawRelay(srv.port)
                third.send(hello(side, grant))
                self.assertEqual(third.status(), WAITING)
                self.assertEqual(third.status(), USED)
                self.assertEqual(third.frame()[:2], ("end", USED))
                third.close()
            # A half-close passes through; the other direction keeps working.
            s.sock.shutdown(socket.SHUT_WR)
            self.assertTrue(r.closed())
            m = srv.metrics()
            self.assertEqual(m["ferry_relay_sessions_total"], 1)
            self.assertGreaterEqual(m["ferry_relay_bytes_total"], len(blob) + 3)
            self.assertEqual(m['ferry_relay_refused_total{reason="used"}'], 2)
            s.close()
            r.close()

    def test_websocket_and_raw_peers_meet(self):
        with self.serve() as srv:
            s, r = pair(srv.port, sign_grant(self.key), sender_cls=WsRelay, receiver_cls=RawRelay)
            blob = os.urandom(2 << 20)
            for i in range(0, len(blob), 300_000):
                s.send(blob[i:i + 300_000])
            self.assertEqual(r.read_data(len(blob)), blob)
            r.send(b"back to the browser")
            self.assertEqual(s.read_data(19), b"back to the browser")
            s.close()
            r.close()

    def test_a_browser_may_take_its_bytes_as_a_streamed_download(self):
        with self.serve("--relay-max-bytes", "4M") as srv:
            s, r = pair(srv.port, sign_grant(self.key), receiver_cls=SplitRelay)
            blob = os.urandom(3 << 20)
            threading.Thread(target=s.send, args=(blob,)).start()
            self.assertEqual(r.read_data(len(blob)), blob)
            r.send(b"ack from the page")
            self.assertEqual(s.read_data(17), b"ack from the page")
            # The sender's half-close ends the download's body.
            s.sock.shutdown(socket.SHUT_WR)
            self.assertTrue(r.body_ended())
            s.close()
            r.close()
            # A limit ends the body, and the reason arrives as the WebSocket's close frame.
            s, r = pair(srv.port, sign_grant(self.key), receiver_cls=SplitRelay)
            threading.Thread(target=lambda: s.send(os.urandom(5 << 20)), daemon=True).start()
            with self.assertRaises(RelayEnded) as ended:
                r.read_data(5 << 20)
            self.assertEqual(ended.exception.code, 4000 + LIMIT)
            self.assertIn("limit of 4.0 MiB per transfer", ended.exception.text)
            s.close()
            r.close()

    def test_download_tickets_are_well_formed_and_good_for_one_connection(self):
        with self.serve() as srv:
            for bad in ("", "abc", "G" * 32, "A" * 32, "0" * 33, "0" * 31 + "%2F"):
                ws = WebSocket(srv.port, "/v1/relay?down=" + bad)
                self.assertEqual(ws.status, 400, bad)
                ws.close()
            status, sock, _ = http_get(srv.port, "/v1/relay/down/" + "0" * 32)
            self.assertEqual(status, 404)  # no WebSocket waits for it
            sock.close()
            first = SplitRelay(srv.port, get=False)
            taken = WebSocket(srv.port, "/v1/relay?down=" + first.ticket)
            self.assertEqual(taken.status, 400)  # one WebSocket per ticket
            taken.close()
            status, body, _ = http_get(srv.port, "/v1/relay/down/" + first.ticket)
            self.assertEqual(status, 200)
            status, again, _ = http_get(srv.port, "/v1/relay/down/" + first.ticket)
            self.assertEqual(status, 404)  # one download per ticket
            again.close()
            body.close()
            first.close()

    def test_a_browser_that_never_fetches_its_bytes_does_not_hold_the_sender(self):
        with self.serve() as srv:
            s, r = pair(srv.port, sign_grant(self.key), sender_cls=lambda port: RawRelay(port, timeout=30),
                        receiver_cls=lambda port: SplitRelay(port, get=False))
            start = time.monotonic()
            s.send(b"x" * 1000)
            self.assertTrue(s.closed())  # the relay gave up on the missing download
            self.assertLess(time.monotonic() - start, 15)
            s.close()
            r.close()

    def test_a_waiting_client_that_leaves_frees_its_slot_at_once(self):
        """A relay attempt abandoned while waiting (the transfer went direct) gives its address's
        slot back when its client closes, not after --relay-wait."""
        with self.serve("--relay-per-address", "1", "--relay-wait", "60") as srv:
            for cls in (RawRelay, WsRelay):
                first = cls(srv.port)
                first.send(hello(b"S", sign_grant(self.key)))
                self.assertEqual(first.status(), WAITING)
                first.close()
                deadline = time.time() + 3
                while srv.metrics().get("ferry_relay_waiting", 1) > 0:
                    self.assertLess(time.time(), deadline, "the waiter outlived its client")
                    time.sleep(0.05)
                second = cls(srv.port)  # the address's one slot is free again
                second.send(hello(b"S", sign_grant(self.key)))
                self.assertEqual(second.status(), WAITING)
                second.close()
            deadline = time.time() + 3
            while srv.metrics().get("ferry_relay_refused_total{reason=\"left\"}", 0) < 4:
                self.assertLess(time.time(), deadline)
                time.sleep(0.05)

    def test_the_relay_is_no_open_proxy(self):
        target = socket.socket()
        target.bind(("127.0.0.1", 0))
        target.listen(8)
        target.settimeout(0.5)
        host_port = "127.0.0.1:%d" % target.getsockname()[1]
        with self.serve() as srv:
            # HTTP proxy requests get the server's own answers, never a tunnel.
            for request in ("CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (host_port, host_port),
                            "GET http://%s/ HTTP/1.1\r\nHost: %s\r\n\r\n" % (host_port, host_port)):
                c = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
                c.sendall(request.encode())
                answer = c.recv(4096).decode(errors="replace")
                self.assertNotIn(" 200 ", answer.split("\r\n")[0])
                c.close()
            # A relay hello has no address in it; an address sent after it goes nowhere.
            c = RawRelay(srv.port)
            c.send(hello(b"S", sign_grant(self.key)) + host_port.encode())
            self.assertEqual(c.status(), WAITING)
            with self.assertRaises(socket.timeout):
                target.accept()
            c.close()
        target.close()

    def test_limits_per_address_and_connection_rate(self):
        with self.serve("--relay-per-address", "2") as srv:
            held = [RawRelay(srv.port) for _ in range(2)]
            for h in held:
                h.send(hello(b"S", sign_grant(self.key)))
                self.assertEqual(h.status(), WAITING)
            extra = RawRelay(srv.port)
            extra.send(hello(b"S", sign_grant(self.key)))
            self.assertEqual(extra.status(), LIMIT)
            end = extra.frame()
            self.assertEqual(end[:2], ("end", LIMIT))
            self.assertIn("from your address at once", end[2])
            self.assertIsNotNone(srv.wait_log("relay_refused reason=address_limit"))
            for h in held:
                h.close()
        with self.serve("--relay-connects-per-minute", "2") as srv:
            for i in range(3):
                c = RawRelay(srv.port)
                c.send(hello(b"S", sign_grant(self.key)))
                status = c.status()
                self.assertEqual(status, WAITING if i < 2 else LIMIT)
                if status == LIMIT:
                    self.assertIn("in the last minute", c.frame()[2])
                c.close()
            self.assertEqual(srv.metrics()['ferry_relay_refused_total{reason="connect_rate"}'], 1)
            self.assertIsNotNone(srv.wait_log("relay_refused reason=connect_rate"))

    def test_byte_cap_ends_the_session_with_its_reason_on_both_sides(self):
        with self.serve("--relay-max-bytes", "1M") as srv:
            s, r = pair(srv.port, sign_grant(self.key), receiver_cls=WsRelay)
            try:
                s.send(os.urandom(2 << 20))
            except (BrokenPipeError, ConnectionResetError):
                pass
            while True:
                f = s.frame()
                if f[0] == "end":
                    break
            self.assertEqual(f[1], LIMIT)
            self.assertIn("limit of 1.0 MiB per transfer", f[2])
            with self.assertRaises(RelayEnded) as ended:
                r.read_data(4 << 20)
            self.assertEqual(ended.exception.code, 4000 + LIMIT)
            self.assertIn("limit of 1.0 MiB per transfer", ended.exception.text)
            self.assertEqual(srv.metrics()['ferry_relay_ended_total{reason="bytes"}'], 1)

    def test_a_stalled_pair_does_not_stall_another(self):
        with self.serve() as srv:
            stalled_s, stalled_r = pair(srv.port, sign_grant(self.key))
            # The stalled receiver never reads: the sender fills the relay's buffer and the socket
            # buffers, then blocks. Nothing else may notice.
            stalled_s.sock.setblocking(False)
            pushed = 0
            try:
                while pushed < (64 << 20):
                    pushed += stalled_s.sock.send(b"\0" * 65536)
            except BlockingIOError:
                pass
            self.assertLess(pushed, 64 << 20)  # back-pressure reached the sender
            s, r = pair(srv.port, sign_grant(self.key))
            blob = os.urandom(8 << 20)
            threading.Thread(target=s.send, args=(blob,), daemon=True).start()
            start = time.monotonic()
            self.assertEqual(r.read_data(len(blob)), blob)
            self.assertLess(time.monotonic() - start, 10)
            for c in (stalled_s, stalled_r, s, r):
                c.close()

    def test_total_bandwidth_is_shared_by_all_sessions(self):
        with self.serve("--relay-bandwidth", "2M") as srv:
            pairs = [pair(srv.port, sign_grant(self.key)) for _ in range(2)]
            blob = os.urandom(2 << 20)
            start = time.monotonic()
            for s, _ in pairs:
                threading.Thread(target=s.send, args=(blob,), daemon=True).start()
            got = [None, None]

            def read(i):
                got[i] = pairs[i][1].read_data(len(blob))

            readers = [threading.Thread(target=read, args=(i,)) for i in range(2)]
            for t in readers:
                t.start()
            for t in readers:
                t.join(30)
            elapsed = time.monotonic() - start
            self.assertEqual(got, [blob, blob])
            # 4 MiB in all at 2 MiB/s: well over a second, where one session alone would pass
            # its 2 MiB in about one.
            self.assertGreater(elapsed, 1.5)
            for s, r in pairs:
                s.close()
                r.close()

    def test_rate_cap_and_duration_cap(self):
        with self.serve("--relay-rate", "2M", "--relay-max-duration", "2") as srv:
            s, r = pair(srv.port, sign_grant(self.key))
            blob = os.urandom(3 << 20)
            start = time.monotonic()
            threading.Thread(target=s.send, args=(blob,), daemon=True).start()
            self.assertEqual(r.read_data(len(blob)), blob)
            elapsed = time.monotonic() - start
            self.assertGreater(elapsed, 1.2)  # 3 MiB at 2 MiB/s: the first MiB per second is free
            # Then nothing moves, and the duration cap ends the session on both sides.
            while True:
                f = r.frame()
                if f[0] == "end":
                    break
            self.assertEqual(f[1], LIMIT)
            self.assertIn("ran longer than the relay allows (2 s", f[2])
            self.assertEqual(srv.metrics()['ferry_relay_ended_total{reason="duration"}'], 1)


class RelayTransferTest(TempDirTest):
    def relayed_transfer(self, srv, size, env=None):
        """Sends a random file of size through the relay; asserts it arrived intact."""
        path = os.path.join(self.src, "f.bin")
        write_random(path, size)
        s = send(srv, [path], extra=["--force-relay"], env=env)
        code = s.wait_event("code")["code"]
        r = receive(srv, code, self.out, extra=["--yes", "--force-relay"], env=env)
        self.assertEqual(r.finish(), 0, r.stderr)
        self.assertEqual(s.finish(), 0, s.stderr)
        self.assertSameFile(path, os.path.join(self.out, "f.bin"))
        self.assertEqual(r.event("connected")["path"], "relay")
        return path

    def test_limit_reached_during_a_transfer_is_a_clear_error_on_both_sides(self):
        with Server(["--relay-max-bytes", "2M"]) as srv:
            path = os.path.join(self.src, "big.bin")
            write_random(path, 8 << 20)
            # The TCP relay names the limit (over UDP only that it was one: test_relay_udp).
            tcp = {"FERRY_NO_RELAY_UDP": "1"}
            s = send(srv, [path], extra=["--force-relay"], env=tcp)
            code = s.wait_event("code")["code"]
            r = receive(srv, code, self.out, extra=["--yes", "--force-relay"], env=tcp)
            self.assertEqual(r.finish(), 12, r.stderr)
            self.assertEqual(s.finish(), 12, s.stderr)
            for run in (s, r):
                self.assertEqual(run.event("error")["code"], "relay_limit")
                self.assertIn("limit of 2.0 MiB per transfer", run.event("error")["message"])
            self.assertFalse(os.path.exists(os.path.join(self.out, "big.bin")))

    def test_a_server_without_relay(self):
        with Server(["--no-relay"]) as srv:
            path = os.path.join(self.src, "f.bin")
            write_random(path, 1 << 20)
            s = send(srv, [path], extra=["--force-relay"])
            code = s.wait_event("code")["code"]
            r = receive(srv, code, self.out, extra=["--yes"])
            for run in (s, r):
                self.assertEqual(run.finish(), 8, run.stderr)
                self.assertIn("runs no relay", run.event("error")["message"])
            # Direct paths still work through it.
            s = send(srv, [path])
            code = s.wait_event("code")["code"]
            r = receive(srv, code, self.out, extra=["--yes"])
            self.assertEqual(r.finish(), 0, r.stderr)
            self.assertEqual(s.finish(), 0, s.stderr)
            self.assertEqual(r.event("connected")["path"], "direct")

    def test_relay_over_websocket_when_a_proxy_lets_only_web_traffic_through(self):
        proxy = WebOnlyProxy()
        env = {"https_proxy": "http://127.0.0.1:%d" % proxy.port, "no_proxy": ""}
        with Server() as srv:
            self.relayed_transfer(srv, 5 << 20, env)
            self.assertGreaterEqual(proxy.blocked, 2)  # both raw attempts were cut off
        proxy.stop()

    def test_relay_restart_mid_transfer_ends_both_sides_clearly(self):
        srv = Server(["--relay-rate", "4M"]).__enter__()
        path = os.path.join(self.src, "f.bin")
        write_random(path, 64 << 20)
        s = send(srv, [path], extra=["--force-relay"])
        code = s.wait_event("code")["code"]
        r = receive(srv, code, self.out, extra=["--yes", "--force-relay"])
        r.wait_event("progress")
        srv.proc.kill()
        srv.proc.wait()
        self.assertEqual(r.finish(), 7, r.stderr)
        self.assertEqual(s.finish(), 7, s.stderr)
        self.assertIn("relay", r.event("error")["message"])
        self.assertFalse(os.path.exists(os.path.join(self.out, "f.bin")))

    def test_the_server_going_away_does_not_disturb_a_direct_transfer(self):
        srv = Server().__enter__()
        path = os.path.join(self.src, "f.bin")
        write_random(path, 512 << 20)
        s = send(srv, [path])
        code = s.wait_event("code")["code"]
        r = receive(srv, code, self.out, extra=["--yes"])
        self.assertEqual(r.wait_event("connected")["path"], "direct")
        srv.proc.kill()
        srv.proc.wait()
        self.assertEqual(r.finish(), 0, r.stderr)
        self.assertEqual(s.finish(), 0, s.stderr)
        self.assertSameFile(path, os.path.join(self.out, "f.bin"))

    def test_tls_on_the_same_port(self):
        cert = os.path.join(self.tmp, "cert.pem")
        key = os.path.join(self.tmp, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                        "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                        "-keyout", key, "-out", cert], check=True, capture_output=True)
        trust = {"SSL_CERT_FILE": cert}
        with Server(["--tls-cert", cert, "--tls-key", key]) as srv:
            self.assertTrue(srv.url.startswith("https://"), srv.url)
            path = self.relayed_transfer(srv, 3 << 20, trust)
            # Plain HTTP still answers on the same port.
            self.assertEqual(srv.metrics()["ferry_relay_sessions_total"], 1)
            # A client that does not trust the certificate is told so.
            s = send(srv, [path], env={"SSL_CERT_FILE": os.path.join(self.tmp, "none.pem")})
            self.assertEqual(s.finish(), 5)
            self.assertIn("not trusted", s.event("error")["message"])

    def test_a_hundred_relayed_transfers_at_once(self):
        # Under ASan+UBSan each of the 200 processes is several times slower and larger, which on
        # two cores turns this into a test of the machine; that build runs 25 pairs.
        n = 25 if os.environ.get("FERRY_SANITIZED") in ("ON", "1") else 100
        flags = ["--relay-per-address", "1000", "--relay-connects-per-minute", "10000",
                 "--claims-per-minute", "10000", "--connects-per-second-per-address", "10000"]
        with Server(flags) as srv:
            pairs = []
            for i in range(n):
                path = os.path.join(self.src, "f%03d.bin" % i)
                write_random(path, 1 << 20)
                out = os.path.join(self.out, str(i))
                os.mkdir(out)
                s = send(srv, [path], extra=["--force-relay"])
                pairs.append((path, out, s))
            runs = []
            for path, out, s in pairs:
                code = s.wait_event("code")["code"]
                runs.append((path, out, s, receive(srv, code, out, extra=["--yes", "--force-relay"])))
            carried = {"tcp": 0, "quic": 0}
            for path, out, s, r in runs:
                self.assertEqual(r.finish(timeout=300), 0, r.stderr)
                self.assertEqual(s.finish(timeout=300), 0, s.stderr)
                connected = r.event("connected")
                self.assertEqual(connected["path"], "relay")
                self.assertEqual(s.event("connected")["transport"], connected["transport"])
                carried[connected["transport"]] += 1
                self.assertSameFile(path, os.path.join(out, os.path.basename(path)))
            # Each transfer on the relay over TCP or over UDP (QUIC through it), whichever
            # opened first; both are tried, so each has paired at least that many sessions.
            m = srv.metrics()
            self.assertGreaterEqual(m["ferry_relay_sessions_total"], carried["tcp"])
            self.assertGreaterEqual(m["ferry_relay_udp_sessions_total"], carried["quic"])
            self.assertGreaterEqual(m["ferry_relay_bytes_total"] + m["ferry_relay_udp_bytes_total"],
                                    n << 20)


class WebOnlyProxy:
    """A CONNECT proxy that, like a filtering corporate proxy, cuts tunnels whose first bytes are
    neither an HTTP request nor a TLS handshake."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.blocked = 0
        self.running = True
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def stop(self):
        self.running = False
        self.listener.close()

    def accept_loop(self):
        while self.running:
            try:
                c, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self.tunnel, args=(c,), daemon=True).start()

    def tunnel(self, c):
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = c.recv(1)
            if not chunk:
                return c.close()
            head += chunk
        host, port = head.split(b" ")[1].decode().rsplit(":", 1)
        up = socket.create_connection((host, int(port)))
        c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        first = c.recv(65536)
        if not (first[:4] in (b"GET ", b"POST") or first[:1] == b"\x16"):
            self.blocked += 1
            c.close()
            up.close()
            return
        up.sendall(first)

        def pump(a, b):
            try:
                while True:
                    d = a.recv(65536)
                    if not d:
                        break
                    b.sendall(d)
                b.shutdown(socket.SHUT_WR)
            except OSError:
                pass

        threading.Thread(target=pump, args=(up, c), daemon=True).start()
        pump(c, up)


if __name__ == "__main__":
    unittest.main()
