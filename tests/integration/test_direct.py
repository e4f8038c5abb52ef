"""Serverless transfers (send --direct): no server runs at all; the code carries the sender's
addresses and secret."""
import base64
import os
import socket
import time

from ferrylib import Run, TempDirTest, write_random


def direct_code(sender):
    ev = sender.wait_event("code")
    assert ev is not None, sender.proc.stderr.read()
    assert ev["link"] == ""
    return ev["code"]


def flip(code, index):
    raw = bytearray(base64.urlsafe_b64decode(code[7:] + "=" * (-len(code[7:]) % 4)))
    raw[index] ^= 1
    return "direct-" + base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")


class DirectTest(TempDirTest):
    def test_file_without_any_server(self):
        path = os.path.join(self.src, "f.bin")
        write_random(path, 20 << 20)
        s = Run(["send", "--direct", path])
        code = direct_code(s)
        self.assertTrue(code.startswith("direct-"))
        r = Run(["receive", "--yes", "--output", self.out, code])
        self.assertEqual(r.finish(), 0, r.stderr)
        self.assertEqual(s.finish(), 0, s.stderr)
        self.assertSameFile(path, os.path.join(self.out, "f.bin"))
        self.assertEqual(r.event("connected")["path"], "direct")

    def test_wrong_secret_is_refused_and_the_sender_keeps_waiting(self):
        path = os.path.join(self.src, "f.bin")
        write_random(path, 100000)
        s = Run(["send", "--direct", path])
        code = direct_code(s)
        bad = Run(["receive", "--yes", "--output", self.out, flip(code, 3)])  # a secret byte
        self.assertEqual(bad.finish(), 3, bad.stderr)
        self.assertEqual(bad.event("error")["code"], "wrong_code")
        self.assertEqual(os.listdir(self.out), [])
        # The right code still works afterwards.
        good = Run(["receive", "--yes", "--output", self.out, code])
        self.assertEqual(good.finish(), 0, good.stderr)
        self.assertEqual(s.finish(), 0, s.stderr)
        self.assertSameFile(path, os.path.join(self.out, "f.bin"))
        self.assertTrue(any(e["event"] == "note" and "did not know the code" in e["text"]
                            for e in s.events))

    def test_damaged_code_is_a_usage_error(self):
        for code in ("direct-", "direct-!!!", "direct-AQ", "direct-" + "A" * 40):
            r = Run(["receive", "--output", self.out, code])
            self.assertEqual(r.finish(), 2, (code, r.stderr))
            self.assertIn(b"direct code is damaged", r.stderr)

    def test_unreachable_sender_says_what_was_tried(self):
        # A well-formed code for a port nobody listens on.
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()
        raw = bytes([1]) + os.urandom(16) + bytes([1, 4, 127, 0, 0, 1, port >> 8, port & 0xFF])
        code = "direct-" + base64.urlsafe_b64encode(raw).decode().rstrip("=")
        start = time.time()
        r = Run(["receive", "--yes", "--output", self.out, code])
        self.assertEqual(r.finish(), 8, r.stderr)
        self.assertLess(time.time() - start, 10)
        self.assertEqual(r.event("error")["code"], "no_path")
        self.assertIn("127.0.0.1:%d" % port, r.event("error")["message"])

    def test_direct_does_not_mix_with_a_server(self):
        r = Run(["send", "--direct", "--server", "http://127.0.0.1:9", os.path.join(self.src, "x")])
        self.assertEqual(r.finish(), 2)
        self.assertIn(b"--direct uses no server", r.stderr)
