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
import unittest

from ferrylib import FERRY, Run, Server, TempDirTest, write_random
from wsclient import WebSocket

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


# The ristretto255 base point: a valid CPace share for any guess (the attacker knows its scalar).
SHARE = bytes.fromhex("e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76")


def find_lan_sender(nameplate, timeout=10):
    """LAN discovery as a receiver does it, on loopback: the sender's TCP port and its nonce."""
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(0.5)
    nonce = os.urandom(16)
    query = b"FERRYLAN\x01\x01" + bytes([len(nameplate)]) + nameplate.encode() + nonce
    deadline = time.time() + timeout
    try:
        while time.time() < deadline:
            u.sendto(query, ("127.0.0.1", 4302))
            try:
                d, _ = u.recvfrom(256)
            except socket.timeout:
                continue
            if d[9] == 2 and d[-34:-18] == nonce:
                return int.from_bytes(d[-18:-16], "big")
    finally:
        u.close()
    raise AssertionError("no LAN sender answered for " + nameplate)


def lan_guess(port):
    """The LAN guesser: one CPace share, then the sender's answer if it gives one (its share and
    confirmation, enough to check the guess offline), then hang up without confirming."""
    try:
        c = socket.create_connection(("127.0.0.1", port), timeout=5)
    except OSError:
        return b""  # refused: the sender already stopped
    try:
        body = bytes([1, 1]) + SHARE
        c.sendall(len(body).to_bytes(4, "big") + body)
        answer = b""
        while len(answer) < 4 + 65:
            chunk = c.recv(4096)
            if not chunk:
                break
            answer += chunk
        return answer
    except OSError:
        return b""
    finally:
        c.close()


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

    def test_a_text_message_is_blanked_from_the_process_table(self):
        with Server() as srv:
            for args in (["--text", "hunter2-wifi"], ["--text=hunter2-wifi"]):
                s = Run(["send", "--server", srv.url] + args)
                self.assertIsNotNone(s.wait_event("code"))
                with open("/proc/%d/cmdline" % s.proc.pid, "rb") as f:
                    cmdline = f.read()
                self.assertIn(b"send", cmdline)
                self.assertNotIn(b"hunter2", cmdline)
                r = Run(["receive", "--server", srv.url, "--yes", "--output", self.out,
                         s.event("code")["code"]])
                self.assertEqual(r.finish(), 0, r.stderr)
                self.assertEqual(r.event("text")["text"], "hunter2-wifi")
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

    def test_a_second_receive_into_the_same_folder_leaves_the_first_ones_part_file_alone(self):
        """Two receives of different files of one name into one folder at once: the second once
        adopted the first's part file (no larger than its offer), found its hash wrong and deleted
        it, and the first ended "cannot rename into place" after receiving everything."""
        first_src = os.path.join(self.src, "a")
        second_src = os.path.join(self.src, "b")
        os.makedirs(first_src)
        os.makedirs(second_src)
        write_random(os.path.join(first_src, "f.bin"), 3 << 20)
        write_random(os.path.join(second_src, "f.bin"), 5 << 20)
        # The relay held to 1 MB/s keeps the first transfer going while the second comes.
        with Server(["--relay-rate", "1M"]) as srv:
            s1 = Run(["send", "--server", srv.url, "--force-relay", os.path.join(first_src, "f.bin")])
            r1 = Run(["receive", "--server", srv.url, "--force-relay", "--yes", "--output", self.out,
                      s1.wait_event("code")["code"]])
            part = os.path.join(self.out, "f.bin.ferry-part")
            deadline = time.time() + 20
            while time.time() < deadline and not (os.path.exists(part) and os.path.getsize(part) > 0):
                time.sleep(0.05)
            self.assertTrue(os.path.exists(part), r1.stderr if r1.proc.poll() is not None else "")
            s2 = Run(["send", "--server", srv.url, "--force-relay", os.path.join(second_src, "f.bin")])
            r2 = Run(["receive", "--server", srv.url, "--force-relay", "--yes", "--output", self.out,
                      s2.wait_event("code")["code"]])
            self.assertEqual(r2.finish(), 10, r2.stderr)
            self.assertEqual(r2.event("error")["code"], "target_exists")
            self.assertIn("another transfer", r2.event("error")["message"])
            s2.finish()
            self.assertEqual(r1.finish(), 0, r1.stderr)
            self.assertEqual(s1.finish(), 0, s1.stderr)
            self.assertSameFile(os.path.join(first_src, "f.bin"), os.path.join(self.out, "f.bin"))

    def test_a_lan_sender_answers_one_guess_even_when_the_guesser_hangs_up(self):
        """The LAN guesser: it reads the sender's share and confirmation for its one guessed code,
        checks it offline and hangs up without confirming. That is a guess: the sender ends as on
        a wrong code, and nobody gets a second answer (once, 297 such guesses in 0.3 s found a
        code while the sender kept accepting)."""
        env = dict(os.environ, XDG_CONFIG_HOME=self.tmp)
        env.pop("FERRY_SERVER", None)
        s = Run(["send", "--lan", "--code", "78-acorn-zebra", "--text", "secret"], env=env)
        self.assertIsNotNone(s.wait_event("code"))
        port = find_lan_sender("78")
        first = lan_guess(port)
        self.assertEqual(len(first), 4 + 65, "the first guess is answered (the protocol's order)")
        # No second answer, to this or any connection: the code is spent.
        second = lan_guess(port)
        self.assertEqual(second, b"", "a second guess was answered")
        self.assertEqual(s.finish(timeout=30), 3, s.stderr)
        self.assertEqual(s.event("error")["code"], "wrong_code")
        # The real receiver finds nobody under that number any more.
        r = Run(["receive", "--lan", "--wait", "1", "--yes", "--output", self.out, "78-acorn-zebra"],
                env=env)
        self.assertEqual(r.finish(), 6, r.stderr)

    def test_a_lan_sender_answers_one_of_two_guesses_at_once_and_a_silent_one_holds_nothing(self):
        env = dict(os.environ, XDG_CONFIG_HOME=self.tmp)
        env.pop("FERRY_SERVER", None)
        s = Run(["send", "--lan", "--code", "79-acorn-zebra", "--text", "secret"], env=env)
        self.assertIsNotNone(s.wait_event("code"))
        port = find_lan_sender("79")
        # A silent connection first: it holds no slot the others need (it once held the sender
        # for 10 s at a time).
        silent = socket.create_connection(("127.0.0.1", port))
        try:
            answers = []
            threads = [threading.Thread(target=lambda: answers.append(lan_guess(port)))
                       for _ in range(4)]
            started = time.time()
            for t in threads:
                t.start()
            for t in threads:
                t.join(20)
            self.assertLess(time.time() - started, 8)
            self.assertEqual(sorted(len(a) for a in answers), [0, 0, 0, 4 + 65])
            self.assertEqual(s.finish(timeout=30), 3, s.stderr)
        finally:
            silent.close()

    def test_the_right_code_still_works_beside_a_silent_connection_on_the_lan(self):
        env = dict(os.environ, XDG_CONFIG_HOME=self.tmp)
        env.pop("FERRY_SERVER", None)
        s = Run(["send", "--lan", "--code", "80-acorn-zebra", "--text", "secret"], env=env)
        self.assertIsNotNone(s.wait_event("code"))
        silent = socket.create_connection(("127.0.0.1", find_lan_sender("80")))
        try:
            started = time.time()
            r = Run(["receive", "--lan", "--yes", "--output", self.out, "80-acorn-zebra"], env=env)
            self.assertEqual(r.finish(), 0, r.stderr)
            self.assertEqual(s.finish(timeout=30), 0, s.stderr)
            self.assertLess(time.time() - started, 8)
        finally:
            silent.close()


def rss_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def mailbox_client(port, source, side, nameplate="5"):
    """A wormhole client on /v1 that binds, claims the nameplate and opens its mailbox; it reads
    only the answers it needs for that, then nothing more."""
    ws = WebSocket(port, path="/v1", source=source)
    ws.sock.settimeout(10)
    assert ws.recv_json()["type"] == "welcome"
    ws.send_json({"type": "bind", "appid": "flood", "side": side, "id": "b"})
    ws.send_json({"type": "claim", "nameplate": nameplate, "id": "c"})
    mailbox = None
    while mailbox is None:
        m = ws.recv_json()
        if m["type"] == "claimed":
            mailbox = m["mailbox"]
        elif m["type"] == "error":
            raise AssertionError(m)
    ws.send_json({"type": "open", "mailbox": mailbox, "id": "o"})
    return ws


def flood_mailbox(port, listeners=160):
    """The review's mailbox flood (bench/server_floods.py replays it too): listeners on one side
    of one mailbox from 8 addresses that never read, a writer adding 64 messages of 60 kB, and
    300 pings from every listener, unread. Returns the connections still open, to close."""
    opened = []
    for i in range(listeners):
        try:
            opened.append(mailbox_client(port, "127.0.0.%d" % (2 + i % 8), "aaaa"))
        except (AssertionError, OSError, ConnectionError):
            pass  # refused: the server's limits at work
    writer = mailbox_client(port, "127.0.0.20", "bbbb")
    body = "ab" * 30000  # 60 kB of hex
    for i in range(64):
        try:
            writer.send_json({"type": "add", "phase": str(i), "body": body, "id": "a%d" % i})
        except OSError:
            break
    ping = json.dumps({"type": "ping", "ping": 1, "id": "p"}).encode()
    for ws in opened:
        try:
            for _ in range(300):
                ws.send_text(ping)
        except OSError:
            pass  # cut off for not reading
    return opened + [writer]


class ServerFloodTest(unittest.TestCase):
    """Attacks on `ferry serve` from the security review, replayed against the real binary."""

    def test_mailbox_listeners_that_never_read_cost_the_server_little(self):
        # Many connections open one side of one mailbox and never read; another adds big messages,
        # and every connection pings without reading the pongs. Once, every message was queued for
        # every listener with no bound (RSS 11 -> 346 MB after 4 MB uploaded). Under ASan the
        # server runs without its quarantine (256 MB of freed memory it would otherwise keep):
        # what is measured is what ferry holds.
        env = dict(os.environ)
        env["ASAN_OPTIONS"] = ":".join(filter(None, [
            env.get("ASAN_OPTIONS"), "quarantine_size_mb=0", "thread_local_quarantine_size_kb=0"]))
        with Server(["--claims-per-minute", "10000"], env=env) as srv:
            idle = rss_mb(srv.proc.pid)
            flood = flood_mailbox(srv.port)
            time.sleep(2)
            grown = rss_mb(srv.proc.pid) - idle
            self.assertLess(grown, 64, "the server grew by %.0f MB" % grown)
            # It still serves.
            ok = WebSocket(srv.port, path="/v1", source="127.0.0.30")
            self.assertEqual(ok.recv_json()["type"], "welcome")
            for ws in flood + [ok]:
                ws.close()

    def test_bare_binds_are_evicted_and_have_a_deadline(self):
        # Once, a bare bind moved a connection to a stage never evicted and without a deadline:
        # 64 of them from 16 addresses shut out /healthz and everyone else.
        import urllib.request
        with Server(["--max-connections", "64", "--unbound-timeout", "3"]) as srv:
            bound = []
            for i in range(64):
                try:
                    ws = WebSocket(srv.port, path="/v1", source="127.0.0.%d" % (2 + i % 16))
                    ws.recv_json()
                    ws.send_json({"type": "bind", "appid": "x", "side": "s%d" % i, "id": "b"})
                    bound.append(ws)
                except (OSError, ConnectionError):
                    pass
            time.sleep(0.3)
            body = urllib.request.urlopen("http://127.0.0.1:%d/healthz" % srv.port, timeout=5).read()
            self.assertEqual(body.strip(), b"ok")
            self.assertIsNotNone(srv.wait_log("evicted"))
            # The ones still open are closed at the deadline.
            time.sleep(4)
            for ws in bound:
                ws.sock.settimeout(2)
                try:
                    while True:
                        op, _ = ws.recv()
                        if op == 8:
                            break
                except (OSError, ConnectionError):
                    pass
                ws.close()
            self.assertIsNotNone(srv.wait_log("reason=deadline_wormhole_unbound"))

    def test_a_chosen_number_is_a_try_at_a_code(self):
        # allocate with a chosen nameplate pairs with a waiting receiver: it counts against the
        # claim limit like a claim (once, 30 went through after the limit).
        with Server(["--claims-per-minute", "5"]) as srv:
            answers = []
            for i in range(7):
                ws = WebSocket(srv.port, source="127.0.0.2")
                ws.recv_json()
                ws.send_json({"type": "allocate", "nameplate": str(900 + i), "resume": "00" * 16})
                answers.append(ws.recv_json())
                ws.close()
            self.assertEqual([a["type"] for a in answers[:5]], ["allocated"] * 5)
            self.assertEqual([(a["type"], a.get("code")) for a in answers[5:]],
                             [("error", "limit")] * 2)
            self.assertEqual(srv.metrics()["ferry_refused_total{reason=\"claim_rate\"}"], 2)
            # A claim from that address is refused too: one budget for both.
            ws = WebSocket(srv.port, source="127.0.0.2")
            ws.recv_json()
            ws.send_json({"type": "claim", "nameplate": "77"})
            self.assertEqual(ws.recv_json()["code"], "limit")
            ws.close()

    def test_wormhole_claims_count_against_the_claim_limit(self):
        with Server(["--claims-per-minute", "3"]) as srv:
            codes = []
            for i in range(5):
                ws = WebSocket(srv.port, path="/v1", source="127.0.0.3")
                ws.recv_json()
                ws.send_json({"type": "bind", "appid": "x", "side": "s", "id": "b"})
                ws.send_json({"type": "claim", "nameplate": str(40 + i), "id": "c"})
                while True:
                    m = ws.recv_json()
                    if m["type"] in ("claimed", "error"):
                        codes.append(m["type"])
                        break
                ws.close()
            self.assertEqual(codes, ["claimed"] * 3 + ["error"] * 2)
