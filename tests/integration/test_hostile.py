"""Hostile servers and clients against the real binaries: a rendezvous server whose errors carry
terminal escapes, clients that stall or guess at `send --direct`, and codes that must not show in
the process table. (Hostile peers speaking the whole protocol: web/test/hostile.test.js.)"""
import base64
import hashlib
import json
import os
import socket
import subprocess
import threading
import time

from ferrylib import FERRY, Run, Server, TempDirTest, write_random

RAW = [b"\x1b", b"\x07", b"\xc2\x9b", b"\xe2\x80\xae"]  # ESC, BEL, C1 CSI, U+202E
HOSTILE = "\x1b]0;pwned\x07\x1b[2J\x1b[8m\u202eevil\u009b31m"


class FakeRendezvous:
    """A WebSocket 'rendezvous server' that welcomes, then answers anything with an error whose
    code and message are terminal escapes."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.url = "http://127.0.0.1:%d" % self.port
        threading.Thread(target=self._serve, daemon=True).start()

    def _frame(self, text):
        data = text.encode()
        head = bytes([0x81, len(data)]) if len(data) < 126 else bytes([0x81, 126]) + len(data).to_bytes(2, "big")
        return head + data

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._client, args=(conn,), daemon=True).start()

    def _client(self, conn):
        with conn:
            req = b""
            while b"\r\n\r\n" not in req:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                req += chunk
            key = [l.split(b":", 1)[1].strip() for l in req.split(b"\r\n")
                   if l.lower().startswith(b"sec-websocket-key:")][0]
            accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
            conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
            conn.sendall(self._frame(json.dumps({"type": "welcome", "version": 1})))
            conn.recv(4096)  # the client's claim or allocate
            conn.sendall(self._frame(json.dumps({"type": "error", "code": "nope" + HOSTILE, "message": HOSTILE})))
            time.sleep(0.5)

    def close(self):
        self.sock.close()


def direct_port(code):
    """The loopback port a direct code names."""
    raw = base64.urlsafe_b64decode(code[7:] + "=" * (-len(code[7:]) % 4))
    at = 18
    for _ in range(raw[17]):
        family = raw[at]
        n = 4 if family == 4 else 16
        ip, port = raw[at + 1:at + 1 + n], int.from_bytes(raw[at + 1 + n:at + 3 + n], "big")
        if ip == bytes([127, 0, 0, 1]):
            return port
        at += 3 + n
    raise AssertionError("no loopback address in the code")


class HostileTest(TempDirTest):
    def assertNothingRaw(self, data):
        for raw in RAW:
            self.assertNotIn(raw, data)

    def test_a_hostile_servers_error_reaches_the_terminal_escaped(self):
        fake = FakeRendezvous()
        try:
            for args in (["receive", "--wait", "0", "7-acorn-agent"], ["send", "--text", "hi"]):
                p = subprocess.run([FERRY] + args + ["--server", fake.url], capture_output=True, timeout=30)
                self.assertNotEqual(p.returncode, 0)
                self.assertNothingRaw(p.stderr)
                self.assertNothingRaw(p.stdout)
                self.assertIn(b"\\x1b]0;pwned\\x07", p.stderr, p.stderr)
                self.assertIn(b"\\u{202e}evil", p.stderr, p.stderr)
                # The same through --json: JSON escapes it, and the line stays valid JSON.
                p = subprocess.run([FERRY] + args + ["--server", fake.url, "--json"], capture_output=True, timeout=30)
                self.assertNothingRaw(p.stdout)
                err = [json.loads(l) for l in p.stdout.splitlines() if b'"error"' in l]
                self.assertTrue(err and "pwned" in err[-1]["message"], p.stdout)
        finally:
            fake.close()

    def test_silent_clients_do_not_hold_up_send_direct(self):
        path = os.path.join(self.src, "f.bin")
        write_random(path, 200000)
        s = Run(["send", "--direct", path])
        port = direct_port(s.wait_event("code")["code"])
        silent = []
        try:
            # A dozen silent connections from another address: at most four are given a handshake.
            for _ in range(12):
                c = socket.socket()
                c.bind(("127.0.0.2", 0))
                c.connect(("127.0.0.1", port))
                silent.append(c)
            # Two from the receiver's own address, too.
            for _ in range(2):
                silent.append(socket.create_connection(("127.0.0.1", port)))
            time.sleep(0.3)
            started = time.time()
            code = [e for e in s.events if e["event"] == "code"][0]["code"]
            r = Run(["receive", "--yes", "--output", self.out, code])
            self.assertEqual(r.finish(), 0, r.stderr)
            self.assertEqual(s.finish(), 0, s.stderr)
            # A handshake waits up to 10 s per frame: the transfer did not wait for any of them.
            self.assertLess(time.time() - started, 8)
            self.assertSameFile(path, os.path.join(self.out, "f.bin"))
        finally:
            for c in silent:
                c.close()

    def test_wrong_codes_do_not_end_send_direct(self):
        path = os.path.join(self.src, "f.bin")
        write_random(path, 1000)
        s = Run(["send", "--direct", path])
        code = s.wait_event("code")["code"]
        raw = bytearray(base64.urlsafe_b64decode(code[7:] + "=" * (-len(code[7:]) % 4)))
        raw[3] ^= 1
        wrong = "direct-" + base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
        for _ in range(25):  # once, 20 wrong handshakes ended the sender
            bad = Run(["receive", "--yes", "--output", self.out, wrong])
            self.assertEqual(bad.finish(), 3, bad.stderr)
        good = Run(["receive", "--yes", "--output", self.out, code])
        self.assertEqual(good.finish(), 0, good.stderr)
        self.assertEqual(s.finish(), 0, s.stderr)

    def test_codes_are_blanked_from_the_process_table_and_taken_from_FERRY_CODE(self):
        path = os.path.join(self.src, "f.txt")
        with open(path, "w") as f:
            f.write("secret stuff")
        with Server() as srv:
            s = Run(["send", "--server", srv.url, "--code", "77-acorn-agent", path])
            self.assertIsNotNone(s.wait_event("code"))
            with open("/proc/%d/cmdline" % s.proc.pid, "rb") as f:
                cmdline = f.read()
            self.assertNotIn(b"acorn", cmdline)
            self.assertIn(b"**************", cmdline)
            r = Run(["receive", "--server", srv.url, "--yes", "--output", self.out, "77-acorn-agent"])
            # Blanked at start: watched while the receiver runs (a loaded machine starts it late).
            seen = b""
            deadline = time.time() + 10
            while time.time() < deadline and (not seen or b"acorn" in seen):
                with open("/proc/%d/cmdline" % r.proc.pid, "rb") as f:
                    seen = f.read()
                time.sleep(0.01)
            self.assertIn(b"receive", seen)  # the running process, not an exited one
            self.assertNotIn(b"acorn", seen)
            self.assertEqual(r.finish(), 0, r.stderr)
            self.assertEqual(s.finish(), 0, s.stderr)

            # FERRY_CODE: the code never on a command line at all.
            os.remove(os.path.join(self.out, "f.txt"))
            env = {"FERRY_CODE": "78-alarm-agent"}
            s = Run(["send", "--server", srv.url, path], env=env)
            self.assertEqual(s.wait_event("code")["code"], "78-alarm-agent")
            r = Run(["receive", "--server", srv.url, "--yes", "--output", self.out], env=env)
            self.assertEqual(r.finish(), 0, r.stderr)
            self.assertEqual(s.finish(), 0, s.stderr)
            with open(os.path.join(self.out, "f.txt")) as f:
                self.assertEqual(f.read(), "secret stuff")
