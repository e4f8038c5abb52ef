"""Direct transfers over QUIC on a punched UDP socket, on loopback with the real binary and server.
FERRY_NO_TCP=1 leaves direct TCP out, so the UDP path is what carries the bytes."""
import os
import random
import re
import signal
import socket
import subprocess
import threading
import time

from ferrylib import Server, TempDirTest, receive, send, write_random

NO_TCP = {"FERRY_NO_TCP": "1"}


def udp_ports_of(pid):
    """The UDP ports a process has open (from ss)."""
    out = subprocess.run(["ss", "-uanpH"], capture_output=True, text=True).stdout
    ports = set()
    for line in out.splitlines():
        if "pid=%d," % pid in line:
            m = re.search(r"[\]\*\d]:(\d+)\s", line.split()[3] + " ")
            if m:
                ports.add(int(m.group(1)))
    return ports


class QuicTest(TempDirTest):
    def quic_transfer(self, paths, code, during=None):
        with Server() as srv:
            s = send(srv, paths, code=code, env=NO_TCP)
            self.assertIsNotNone(s.wait_event("code"))
            r = receive(srv, code, self.out, extra=["--yes"], env=NO_TCP)
            if during:
                during(s, r)
            rc_r = r.finish()
            rc_s = s.finish()
        return s, r, rc_s, rc_r

    def test_file_over_quic(self):
        path = os.path.join(self.src, "big.bin")
        write_random(path, 64 << 20)
        s, r, rc_s, rc_r = self.quic_transfer([path], "301-acorn-zebra")
        self.assertEqual((rc_s, rc_r), (0, 0), (s.stderr, r.stderr))
        self.assertSameFile(path, os.path.join(self.out, "big.bin"))
        for side in (s, r):
            c = side.event("connected")
            self.assertEqual((c["path"], c["transport"]), ("direct", "quic"))

    def test_ctrl_c_over_quic_is_told_to_the_other_side(self):
        """Each side's Ctrl-C reaches the other as "cancelled" over QUIC too: the abort record
        is acknowledged before the connection closes (a close would drop it if its packet were
        lost; the loss itself is in tests/net/quic_test.cpp)."""
        path = os.path.join(self.src, "big.bin")
        write_random(path, 600 << 20)
        with Server() as srv:
            for n, quitter in enumerate(("receiver", "sender")):
                code = "30%d-acorn-zebra" % (3 + n)
                s = send(srv, [path], code=code, env=NO_TCP)
                self.assertIsNotNone(s.wait_event("code"))
                r = receive(srv, code, os.path.join(self.tmp, "out%d" % n), extra=["--yes"],
                            env=NO_TCP)
                self.assertIsNotNone(r.wait_event("progress"))
                self.assertEqual(r.event("connected")["transport"], "quic")
                (r if quitter == "receiver" else s).proc.send_signal(signal.SIGINT)
                rc_r, rc_s = r.finish(), s.finish()
                self.assertEqual((rc_r, rc_s) if quitter == "receiver" else (rc_s, rc_r),
                                 (130, 4), (s.stderr, r.stderr))
                told = s if quitter == "receiver" else r
                self.assertIn("the %s cancelled" % quitter, told.event("error")["message"])

    def test_folder_over_quic(self):
        folder = os.path.join(self.src, "photos")
        os.makedirs(os.path.join(folder, "2026"))
        for i in range(20):
            write_random(os.path.join(folder, "2026", "p%02d.jpg" % i), random.randint(0, 700000))
        s, r, rc_s, rc_r = self.quic_transfer([folder], "302-acorn-zebra")
        self.assertEqual((rc_s, rc_r), (0, 0), (s.stderr, r.stderr))
        for i in range(20):
            name = os.path.join("photos", "2026", "p%02d.jpg" % i)
            self.assertSameFile(os.path.join(self.src, name), os.path.join(self.out, name))
        self.assertEqual(r.event("connected")["transport"], "quic")

    def test_garbage_datagrams_change_nothing(self):
        """Random datagrams, forged probes and junk shaped like STUN and QUIC, sprayed at every UDP
        port of both peers during a QUIC transfer: the bytes still arrive intact."""
        path = os.path.join(self.src, "big.bin")
        write_random(path, 96 << 20)
        stop = threading.Event()

        def spray(s, r):
            self.assertIsNotNone(r.wait_event("connected"))
            targets = udp_ports_of(s.proc.pid) | udp_ports_of(r.proc.pid)
            self.assertTrue(targets, "found no UDP port to spray")
            junk = [os.urandom(26), b"\x3a\x00" + os.urandom(24), b"\x3b\x01" + os.urandom(24),
                    b"\x00\x01\x00\x00\x21\x12\xa4\x42" + os.urandom(12),
                    b"\xc3\x00\x00\x00\x01" + os.urandom(1195), b"\x41" + os.urandom(60), b""]

            def run():
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                while not stop.is_set():
                    for port in targets:
                        for j in junk:
                            sock.sendto(j, ("127.0.0.1", port))
                    time.sleep(0.002)
            threading.Thread(target=run, daemon=True).start()

        try:
            s, r, rc_s, rc_r = self.quic_transfer([path], "303-acorn-zebra", during=spray)
        finally:
            stop.set()
        self.assertEqual((rc_s, rc_r), (0, 0), (s.stderr, r.stderr))
        self.assertSameFile(path, os.path.join(self.out, "big.bin"))
        self.assertEqual(r.event("connected")["transport"], "quic")

    def test_sender_killed_mid_transfer_is_noticed_in_seconds(self):
        path = os.path.join(self.src, "big.bin")
        write_random(path, 300 << 20)
        with Server() as srv:
            s = send(srv, [path], code="304-acorn-zebra", env=NO_TCP)
            self.assertIsNotNone(s.wait_event("code"))
            r = receive(srv, "304-acorn-zebra", self.out, extra=["--yes"], env=NO_TCP)
            self.assertEqual(r.wait_event("connected")["transport"], "quic")
            self.assertIsNotNone(r.wait_event("progress"))
            s.kill()
            start = time.time()
            self.assertEqual(r.finish(), 7, r.stderr)
            # QUIC hears nothing from a killed peer: its idle timeout (10 s) decides; then the
            # receiver gives its sender 3 s to take the code back (it may only have lost its
            # connection to the server as well), and finds it gone.
            self.assertLess(time.time() - start, 20)
        self.assertEqual(r.event("error")["code"], "peer_gone")
        self.assertTrue(os.path.exists(os.path.join(self.out, "big.bin.ferry-part")))
        self.assertFalse(os.path.exists(os.path.join(self.out, "big.bin")))

    def test_only_the_relay_when_udp_and_tcp_are_out(self):
        """A server without STUN and no TCP: the sides still meet through the relay, and the UDP
        attempt is reported rather than hanging."""
        path = os.path.join(self.src, "a.bin")
        write_random(path, 1 << 20)
        with Server(extra=["--no-stun"]) as srv:
            s = send(srv, [path], code="305-acorn-zebra", env=NO_TCP)
            self.assertIsNotNone(s.wait_event("code"))
            r = receive(srv, "305-acorn-zebra", self.out, extra=["--yes"], env=NO_TCP)
            self.assertEqual(r.finish(), 0, r.stderr)
            self.assertEqual(s.finish(), 0, s.stderr)
        self.assertSameFile(path, os.path.join(self.out, "a.bin"))
        # Loopback host candidates still punch through without STUN: either path is right, but
        # the transfer must not wait for anything.
        self.assertIn(r.event("connected")["path"], ("direct", "relay"))
