"""The relay over UDP from the outside (proto/relay_udp.hpp, server/udp_relay.hpp): a side binds
only an address it receives at, two bound sides of a session exchange datagrams and nobody else
does, bad grants are refused with their reason, answers never outweigh what earned them, limits
end a session on both sides, and whole transfers through the real CLI."""
import os
import time
import unittest

from ferrylib import Server, TempDirTest, receive, send, write_random
from relaylib import (CHALLENGE, EXPIRED, FORGED, LIMIT, WAITING, UdpRelay, new_key_file,
                      sign_grant, udp_bind, udp_unbind)

PAIRED = 0


class RelayUdpProtocolTest(TempDirTest):
    def serve(self, *extra):
        self.key, key_file = new_key_file(self.tmp)
        srv = Server(["--relay-key-file", key_file] + list(extra))
        return srv

    def pair(self, srv, grant):
        s, r = UdpRelay(srv.relay_udp_port), UdpRelay(srv.relay_udp_port)
        self.assertEqual(s.bind(b"S", grant), WAITING)
        self.assertEqual(r.bind(b"R", grant), PAIRED)
        self.assertEqual(s.answer()[0], PAIRED)  # the side that waited hears it too
        return s, r

    def test_two_bound_sides_exchange_datagrams_and_nobody_else_does(self):
        with self.serve() as srv:
            self.assertIsNotNone(srv.relay_udp_port)
            s, r = self.pair(srv, sign_grant(self.key))
            # Both ways, whatever the first byte (QUIC may grease its fixed bit away).
            for payload in (b"\x43quic-ish", b"\x05greased", os.urandom(1200)):
                s.send(payload)
                self.assertEqual(r.recv(), payload)
                r.send(payload[::-1])
                self.assertEqual(s.recv(), payload[::-1])
            # A stranger's datagrams go nowhere and earn nothing.
            stranger = UdpRelay(srv.relay_udp_port, timeout=0.5)
            stranger.send(b"\x43hello?")
            stranger.send(os.urandom(62))
            self.assertIsNone(stranger.recv())
            r.sock.settimeout(0.5)
            self.assertIsNone(r.recv())
            m = srv.metrics()
            self.assertEqual(m["ferry_relay_udp_active_sessions"], 1)
            self.assertEqual(m["ferry_relay_udp_bound"], 2)
            self.assertGreater(m["ferry_relay_udp_bytes_total"], 2400)
            self.assertGreaterEqual(m["ferry_relay_udp_dropped_total"], 2)
            for c in (s, r, stranger):
                c.close()

    def test_a_side_unbinds_when_done_and_only_its_own_address_can(self):
        with self.serve("--relay-per-address", "2") as srv:
            grant = sign_grant(self.key)
            s, r = self.pair(srv, grant)
            # A stranger (or the peer) cannot free a side; no answer either way.
            stranger = UdpRelay(srv.relay_udp_port, timeout=0.5)
            stranger.send(udp_unbind(b"S", grant))
            r.send(udp_unbind(b"S", grant))
            self.assertIsNone(stranger.recv())
            self.assertEqual(srv.metrics()["ferry_relay_udp_bound"], 2)
            s.send(udp_unbind(b"S", grant))
            s.sock.settimeout(0.5)
            self.assertIsNone(s.recv())  # never answered
            deadline = time.monotonic() + 5
            while srv.metrics()["ferry_relay_udp_bound"] != 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            m = srv.metrics()
            self.assertEqual(m["ferry_relay_udp_bound"], 1)
            self.assertEqual(m["ferry_relay_udp_unbound_total"], 1)
            # What the receiver sends now goes nowhere.
            r.send(b"\x43after")
            self.assertIsNone(s.recv())
            # The loopback address's two slots: one is free again at once.
            other = UdpRelay(srv.relay_udp_port)
            self.assertEqual(other.bind(b"S", sign_grant(self.key)), WAITING)
            for c in (s, r, stranger, other):
                c.close()

    def test_an_address_is_bound_only_with_the_cookie_sent_to_it(self):
        with self.serve() as srv:
            grant = sign_grant(self.key)
            a, b = UdpRelay(srv.relay_udp_port), UdpRelay(srv.relay_udp_port)
            a.send(udp_bind(b"S", grant))
            status, cookie = a.answer()
            self.assertEqual(status, CHALLENGE)
            # Someone else echoing a's cookie (as if it forged a's address, or stole the cookie)
            # is asked again: the cookie is for a's address alone.
            b.send(udp_bind(b"S", grant, cookie))
            self.assertEqual(b.answer()[0], CHALLENGE)
            a.send(udp_bind(b"S", grant, os.urandom(16)))
            self.assertEqual(a.answer()[0], CHALLENGE)
            self.assertEqual(srv.metrics()["ferry_relay_udp_bound"], 0)
            a.send(udp_bind(b"S", grant, cookie))
            self.assertEqual(a.answer()[0], WAITING)
            self.assertEqual(srv.metrics()["ferry_relay_udp_bound"], 1)
            a.close()
            b.close()

    def test_bad_grants_are_refused_with_their_reason_and_answers_stay_small(self):
        with self.serve() as srv:
            c = UdpRelay(srv.relay_udp_port)
            cases = [(sign_grant(os.urandom(32)), FORGED),
                     (sign_grant(self.key, expires=int(time.time()) - 1), EXPIRED),
                     (bytes(40), FORGED)]  # a doctor's probe
            for grant, status in cases:
                request = udp_bind(b"R", grant)
                c.send(request)
                got = c.recv()
                self.assertEqual(got[4], status)
                self.assertLess(len(got), len(request))  # no amplification
            # A flood from one address: the answers stop at the burst.
            c.sock.settimeout(0.3)
            for _ in range(300):
                c.send(udp_bind(b"R", cases[0][0]))
            answers = 0
            while c.recv() is not None:
                answers += 1
            self.assertLessEqual(answers, 60)
            m = srv.metrics()
            self.assertGreaterEqual(m['ferry_relay_udp_refused_total{reason="forged"}'], 1)
            self.assertEqual(m['ferry_relay_udp_refused_total{reason="expired"}'], 1)
            self.assertEqual(m['ferry_relay_udp_refused_total{reason="probe"}'], 1)
            c.close()

    def test_the_byte_cap_ends_the_session_and_both_sides_hear_it(self):
        with self.serve("--relay-max-bytes", "10K") as srv:
            s, r = self.pair(srv, sign_grant(self.key))
            for _ in range(12):
                s.send(b"\x43" + bytes(999))
            got, ended = 0, {}
            for side, sock in (("r", r), ("s", s)):
                sock.sock.settimeout(1)
                while True:
                    d = sock.recv()
                    if d is None:
                        break
                    if len(d) == 21 and d[:4] == b"\x00FRA":
                        ended[side] = d[4]
                    else:
                        got += len(d)
            self.assertLessEqual(got, 10 << 10)
            self.assertEqual(ended, {"r": LIMIT, "s": LIMIT})
            # The session stays ended.
            s.send(b"\x43more")
            r.sock.settimeout(0.5)
            self.assertIsNone(r.recv())
            self.assertEqual(srv.metrics()['ferry_relay_udp_ended_total{reason="bytes"}'], 1)
            s.close()
            r.close()

    def test_without_the_relay_over_udp(self):
        with self.serve("--no-relay-udp") as srv:
            self.assertIsNone(srv.relay_udp_port)
            self.assertEqual(srv.metrics()["ferry_relay_udp_bound"], 0)


class RelayUdpTransferTest(TempDirTest):
    ONLY_UDP = {"FERRY_NO_RELAY_TCP": "1"}

    def transfer(self, srv, size, env, extra=()):
        path = os.path.join(self.src, "f.bin")
        write_random(path, size)
        s = send(srv, [path], extra=["--force-relay"] + list(extra), env=env)
        code = s.wait_event("code")["code"]
        r = receive(srv, code, self.out, extra=["--yes", "--force-relay"], env=env)
        return path, s, r

    def test_a_transfer_through_the_relay_over_udp(self):
        with Server() as srv:
            path, s, r = self.transfer(srv, 20 << 20, self.ONLY_UDP)
            self.assertEqual(r.finish(), 0, r.stderr)
            self.assertEqual(s.finish(), 0, s.stderr)
            self.assertSameFile(path, os.path.join(self.out, "f.bin"))
            for run in (s, r):
                c = run.event("connected")
                self.assertEqual((c["path"], c["transport"]), ("relay", "quic"))
                self.assertEqual(c["peer"], "127.0.0.1:%d" % srv.relay_udp_port)
            deadline = time.monotonic() + 3
            while srv.metrics()["ferry_relay_udp_bound"] and time.monotonic() < deadline:
                time.sleep(0.05)  # the unbinds left as the clients closed
            m = srv.metrics()
            self.assertGreater(m["ferry_relay_udp_bytes_total"], 20 << 20)
            self.assertEqual(m["ferry_relay_sessions_total"], 0)  # the TCP relay carried nothing
            # Both clients unbound when their connection ended: nothing held for a minute.
            self.assertEqual(m["ferry_relay_udp_bound"], 0)
            self.assertEqual(m["ferry_relay_udp_unbound_total"], 2)

    def test_a_limit_ends_the_transfer_with_the_relays_reason_on_both_sides(self):
        with Server(["--relay-max-bytes", "2M"]) as srv:
            path, s, r = self.transfer(srv, 8 << 20, self.ONLY_UDP)
            self.assertEqual(r.finish(), 12, r.stderr)
            self.assertEqual(s.finish(), 12, s.stderr)
            for run in (s, r):
                self.assertEqual(run.event("error")["code"], "relay_limit")
                self.assertIn("over QUIC/UDP: the relay ended this transfer: it reached the "
                              "relay's limit of 2.0 MiB per transfer", run.event("error")["message"])
            self.assertFalse(os.path.exists(os.path.join(self.out, "f.bin")))

    def test_a_server_without_it_says_what_was_left_out(self):
        with Server(["--no-relay-udp"]) as srv:
            path, s, r = self.transfer(srv, 1 << 20, self.ONLY_UDP)
            self.assertEqual(r.finish(), 8, r.stderr)
            self.assertEqual(s.finish(), 8, s.stderr)
            self.assertIn("relay over TCP: left out (FERRY_NO_RELAY_TCP=1)",
                          r.event("error")["message"])


if __name__ == "__main__":
    unittest.main()
