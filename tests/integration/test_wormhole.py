"""magic-wormhole interop: Debian's own `wormhole` client sends, `ferry receive` receives, through
Debian's mailbox server (`twist3 wormhole-mailbox`) and transit relay (`twist3 transitrelay`),
all started here on loopback. No traffic leaves the machine: every client is told these servers."""
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest
import zipfile

from ferrylib import FERRY, Run, Server, TempDirTest, free_port, write_random

WORMHOLE = shutil.which("wormhole")
ZIP_SENDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wormhole_zip_sender.py")
TWIST = shutil.which("twist3")


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def wait_port(port, timeout=20):
    import socket
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("nothing listens on port %d" % port)


class WormholeServers:
    """The mailbox server and transit relay, on free loopback ports, stopped on exit."""

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="ferry-wh-servers-")
        self.mailbox_port = free_port()
        self.transit_port = free_port()
        self.procs = [
            subprocess.Popen([TWIST, "wormhole-mailbox", "--port",
                              "tcp:%d:interface=127.0.0.1" % self.mailbox_port,
                              "--channel-db", os.path.join(self.dir, "relay.sqlite")],
                             cwd=self.dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
            subprocess.Popen([TWIST, "transitrelay", "--port",
                              "tcp:%d:interface=127.0.0.1" % self.transit_port],
                             cwd=self.dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        ]
        try:
            wait_port(self.mailbox_port)
            wait_port(self.transit_port)
        except Exception:
            self.__exit__()
            raise
        self.mailbox = "ws://127.0.0.1:%d/v1" % self.mailbox_port
        self.transit = "tcp:127.0.0.1:%d" % self.transit_port
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


@unittest.skipUnless(WORMHOLE and TWIST, "magic-wormhole and its servers are not installed "
                     "(scripts/setup.sh installs them)")
class WormholeTest(TempDirTest):
    """One mailbox server and transit relay for a class's tests."""

    def make_tree(self, tree):
        """Files of random bytes under src: {relative path: size}."""
        for rel, size in tree.items():
            os.makedirs(os.path.dirname(os.path.join(self.src, rel)) or self.src, exist_ok=True)
            write_random(os.path.join(self.src, rel), size)

    def assert_same(self, rels):
        """Each relative path holds the same bytes under src and out."""
        for rel in rels:
            with open(os.path.join(self.src, rel), "rb") as a, \
                    open(os.path.join(self.out, rel), "rb") as b:
                self.assertEqual(a.read(), b.read(), rel)

    @classmethod
    def setUpClass(cls):
        cls.servers = WormholeServers().__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.servers.__exit__()


class WormholeToFerry(WormholeTest):

    def wormhole_send(self, what, code, extra=()):
        # Where a test needs no direct path it passes --no-listen (see wormhole_receive below).
        s = self.servers
        return subprocess.Popen(
            [WORMHOLE, "--relay-url", s.mailbox, "--transit-helper", s.transit, "send",
             "--hide-progress", "--code", code] + list(extra) + what,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=self.src)

    def ferry_receive(self, code, extra=()):
        s = self.servers
        return Run(["receive", "--mailbox", s.mailbox, "--transit-helper", s.transit, "--yes",
                    "--output", self.out] + list(extra) + [code])

    def finish(self, sender, receiver):
        rc = receiver.finish(timeout=120)
        try:
            out, err = sender.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            sender.kill()
            out, err = sender.communicate()
        return rc, sender.returncode, out + err

    def test_text(self):
        sender = self.wormhole_send(["--text", "hello from wormhole \x1b[2J"], "3-guitarist-revenge")
        receiver = self.ferry_receive("3-guitarist-revenge")
        rc, src, sender_out = self.finish(sender, receiver)
        self.assertEqual(rc, 0, receiver.stderr)
        self.assertEqual(src, 0, sender_out)
        self.assertEqual(receiver.event("text")["text"], "hello from wormhole \x1b[2J")

    def check_file(self, size, code, sender_extra=(), receiver_extra=(), path=None):
        src = os.path.join(self.src, "data.bin")
        write_random(src, size)
        sender = self.wormhole_send(["data.bin"], code, sender_extra)
        receiver = self.ferry_receive(code, receiver_extra)
        rc, src_rc, sender_out = self.finish(sender, receiver)
        self.assertEqual(rc, 0, receiver.stderr)
        self.assertEqual(src_rc, 0, sender_out)
        got = os.path.join(self.out, "data.bin")
        self.assertEqual(sha256(src), sha256(got))
        self.assertEqual(os.listdir(self.out), ["data.bin"])  # no part file left
        connected = receiver.event("connected")
        self.assertEqual(connected["path"], path)
        return sender_out

    def test_file_direct(self):
        self.check_file(3 * 1024 * 1024 + 17, "4-aardvark-adroitness", path="direct")

    def test_one_gib_file(self):
        # 1 GiB from Debian's wormhole, hash checked (check_file compares SHA-256 of both files).
        self.check_file(1 << 30, "12-acme-amulet", path="direct")

    def test_file_through_the_transit_relay(self):
        # The sender opens no listening socket, and ferry listens on none: only the relay joins them.
        self.check_file(1024 * 1024, "5-absurd-aimless", sender_extra=["--no-listen"], path="relay")

    def test_empty_file(self):
        self.check_file(0, "6-accrue-amulet", path="direct")

    def test_wrong_code(self):
        sender = self.wormhole_send(["--text", "secret"], "7-guitarist-revenge")
        receiver = self.ferry_receive("7-guitarist-reindeer")
        rc, src, sender_out = self.finish(sender, receiver)
        self.assertEqual(rc, 3, receiver.stderr)  # the documented exit status of a wrong code
        self.assertEqual(receiver.event("error")["code"], "wrong_code")
        self.assertIn("code did not match", receiver.stderr.decode())
        self.assertNotEqual(src, 0)
        self.assertIn("Key confirmation failed", sender_out)
        self.assertIsNone(receiver.event("text"))

    def test_existing_file_is_not_overwritten(self):
        # --yes keeps both: the existing file is untouched, the new one gets a free name (and
        # the sender cannot tell a name existed).
        with open(os.path.join(self.out, "data.bin"), "wb") as f:
            f.write(b"mine")
        write_random(os.path.join(self.src, "data.bin"), 1000)
        sender = self.wormhole_send(["data.bin"], "8-acme-adult", ["--no-listen"])
        receiver = self.ferry_receive("8-acme-adult")
        rc, src, sender_out = self.finish(sender, receiver)
        self.assertEqual(rc, 0, receiver.stderr)
        self.assertEqual(src, 0, sender_out)
        with open(os.path.join(self.out, "data.bin"), "rb") as f:
            self.assertEqual(f.read(), b"mine")
        with open(os.path.join(self.src, "data.bin"), "rb") as a, \
                open(os.path.join(self.out, "data (1).bin"), "rb") as b:
            self.assertEqual(a.read(), b.read())

    def test_directory(self):
        tree = {"photos/a.jpg": 300000, "photos/trip/b.jpg": 5000, "photos/empty.txt": 0,
                "photos/deep/er/c.bin": 70000}
        self.make_tree(tree)
        os.chmod(os.path.join(self.src, "photos/a.jpg"), 0o755)
        sender = self.wormhole_send(["photos"], "11-adult-amusement")
        receiver = self.ferry_receive("11-adult-amusement")
        rc, src, sender_out = self.finish(sender, receiver)
        self.assertEqual(rc, 0, receiver.stderr)
        self.assertEqual(src, 0, sender_out)
        self.assert_same(tree)
        self.assertTrue(os.access(os.path.join(self.out, "photos/a.jpg"), os.X_OK))
        self.assertEqual(os.listdir(self.out), ["photos"])  # the zip is gone
        self.assertEqual(receiver.event("done")["files"], 4)

    def test_a_folder_that_exists_here_is_received_beside_it(self):
        tree = {"photos/a.jpg": 3000, "photos/trip/b.jpg": 5000}
        self.make_tree(tree)
        os.makedirs(os.path.join(self.out, "photos"))
        with open(os.path.join(self.out, "photos", "a.jpg"), "w") as f:
            f.write("precious")
        sender = self.wormhole_send(["photos"], "13-adult-amusement")
        receiver = self.ferry_receive("13-adult-amusement")
        rc, src, sender_out = self.finish(sender, receiver)
        self.assertEqual(rc, 0, receiver.stderr)
        self.assertEqual(src, 0, sender_out)
        with open(os.path.join(self.out, "photos", "a.jpg")) as f:
            self.assertEqual(f.read(), "precious")
        for rel in tree:
            self.assertEqual(sha256(os.path.join(self.src, rel)),
                             sha256(os.path.join(self.out, "photos (1)", rel[len("photos/"):])))
        offer = receiver.event("offer")
        self.assertEqual((offer["files"], offer["bytes"]), (2, 8000))

    def test_a_mistyped_word_is_judged_against_wormholes_words(self):
        r = subprocess.run([FERRY, "receive", "--mailbox", self.servers.mailbox,
                            "14-adult-amusment"], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn('"amusment" is not one of magic-wormhole\'s code words; did you mean '
                      '"amusement"?', r.stderr)

    @unittest.skipUnless(os.geteuid() == 0 or os.environ.get("CI"), "needs root for a tmpfs")
    def test_a_folder_that_cannot_fit_is_refused_before_its_zip_is_written(self):
        # The zip and the folder it becomes are on the disk at once: 3 MB of incompressible files
        # need 6 MB, and a 4 MB disk is refused up front (once, the zip was written first).
        tree = {"big/a.bin": 1500000, "big/b.bin": 1500000}
        self.make_tree(tree)
        small = os.path.join(self.tmp, "small")
        os.makedirs(small)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", small], check=True)
        try:
            sender = self.wormhole_send(["big"], "12-adult-amusement")
            s = self.servers
            receiver = Run(["receive", "--mailbox", s.mailbox, "--transit-helper", s.transit,
                            "--yes", "--output", small, "12-adult-amusement"])
            rc, src, sender_out = self.finish(sender, receiver)
            self.assertEqual(rc, 9, receiver.stderr)
            self.assertEqual(receiver.event("error")["code"], "disk_full")
            self.assertIn("transfer rejected", sender_out)
            self.assertEqual(os.listdir(small), [])
        finally:
            subprocess.run(["umount", small])

    def hostile_zip(self, entries, code):
        """Offers a zip holding entries (name, data, unix mode) as the directory "d"."""
        path = os.path.join(self.tmp, "hostile.zip")
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            for name, data, mode in entries:
                info = zipfile.ZipInfo(name)
                info.create_system = 3
                info.external_attr = mode << 16
                z.writestr(info, data)
        s = self.servers
        sender = subprocess.Popen(
            ["/usr/bin/python3", ZIP_SENDER, path, "d", str(len(entries)), "1000000",
             "--relay-url", s.mailbox, "--transit-helper", s.transit, "send", "--hide-progress",
             "--no-listen", "--code", code, "ignored"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=self.src)
        receiver = self.ferry_receive(code)
        return self.finish(sender, receiver) + (receiver,)

    def test_hostile_zips_are_refused_with_nothing_written(self):
        cases = {
            "parent": [("ok.txt", "fine", 0o100644), ("../evil.txt", "x", 0o100644)],
            "absolute": [("ok.txt", "fine", 0o100644), ("/tmp/evil.txt", "x", 0o100644)],
            "symlink": [("link", "/etc/passwd", 0o120777)],
            "file in a file": [("f", "x", 0o100644), ("f/x", "x", 0o100644)],
            "device": [("dev", "", 0o020644)],
            "twice": [("a.txt", "1", 0o100644), ("a.txt", "2", 0o100644)],
            "escape": [("a\x1b]0;pwned\x07.txt", "x", 0o100644)],
        }
        for n, (why, entries) in enumerate(cases.items()):
            with self.subTest(why):
                rc, src, sender_out, receiver = self.hostile_zip(entries, "%d-acme-adult" % (20 + n))
                self.assertNotEqual(rc, 0)
                self.assertEqual(receiver.event("error")["code"], "bad_offer", receiver.stderr)
                self.assertNotIn(b"\x1b", receiver.stderr)  # names shown escaped
                self.assertEqual(os.listdir(self.out), [], why)  # nothing, not even the zip
                self.assertNotEqual(src, 0, sender_out)  # the sender hears it failed, not why
                self.assertIn("'ack': 'rejected'", sender_out)
                self.assertFalse(os.path.exists(os.path.join(self.tmp, "evil.txt")))

    def test_zip_bomb_past_the_offer_is_refused(self):
        # 50 MB of zeros compress to ~50 KB; the offer said 1 MB.
        rc, _, _, receiver = self.hostile_zip([("zeros", b"\0" * 50_000_000, 0o100644)],
                                              "30-acme-adult")
        self.assertNotEqual(rc, 0)
        self.assertEqual(receiver.event("error")["code"], "bad_offer")
        self.assertEqual(os.listdir(self.out), [])

    def test_code_is_recognised_without_the_flag_and_with_it(self):
        # Both words are wormhole's: no --wormhole needed; with --wormhole any code is taken.
        sender = self.wormhole_send(["--text", "one"], "9-adrift-almighty")
        receiver = self.ferry_receive("9-adrift-almighty")
        rc, _, out = self.finish(sender, receiver)
        self.assertEqual(rc, 0, receiver.stderr)
        sender = self.wormhole_send(["--text", "two"], "10-acorn-agent")  # ferry's own words
        receiver = self.ferry_receive("10-acorn-agent", ["--wormhole"])
        rc, _, out = self.finish(sender, receiver)
        self.assertEqual(rc, 0, receiver.stderr)
        self.assertEqual(receiver.event("text")["text"], "two")


if __name__ == "__main__":
    unittest.main()


class FerryToWormhole(WormholeTest):

    def ferry_send(self, what, extra=()):
        s = self.servers
        return Run(["send", "--wormhole", "--mailbox", s.mailbox, "--transit-helper", s.transit]
                   + list(extra) + what)

    def wormhole_receive(self, code, extra=("--accept-file",)):
        # --no-listen: wormhole 0.12 picks its listening port early and binds it late, and under
        # parallel tests another process can take it in between (CannotListenError, and the
        # receiver dies without a word to the sender). ferry's own listener still gives the
        # direct path.
        s = self.servers
        return subprocess.Popen(
            [WORMHOLE, "--relay-url", s.mailbox, "--transit-helper", s.transit, "receive",
             "--hide-progress", "--no-listen"] + list(extra) + [code], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=self.out)

    def run_pair(self, what, sender_extra=(), receiver_extra=("--accept-file",), answer=None):
        sender = self.ferry_send(what, sender_extra)
        code = sender.wait_event("code", timeout=20)
        self.assertIsNotNone(code, sender.stderr)
        self.assertEqual(code["protocol"], "wormhole")
        receiver = self.wormhole_receive(code["code"], receiver_extra)
        try:
            out, err = receiver.communicate(answer, timeout=120)
        except subprocess.TimeoutExpired:
            receiver.kill()
            out, err = receiver.communicate()
        try:
            rc = sender.finish(timeout=60)
        except subprocess.TimeoutExpired:
            sender.kill()
            sender.finish()
            self.fail("ferry send did not end; its events: %r; stderr: %s; wormhole receive "
                      "(exit %s) said: %s" % (sender.events, sender.stderr.decode(errors="replace"),
                                             receiver.returncode, out + err))
        return rc, receiver.returncode, out, err, sender, code["code"]

    def test_text(self):
        rc, wrc, out, err, _, code = self.run_pair(["--text", "hello wormhole"])
        self.assertEqual(rc, 0)
        self.assertEqual(wrc, 0, err)
        self.assertEqual(out.strip(), "hello wormhole")
        # Codes made here look like wormhole's: a nameplate and two PGP words, odd then even
        # (wormhole's own word list, read by the Python its client runs on).
        nameplate, odd, even = code.split("-")
        self.assertTrue(nameplate.isdigit())
        check = subprocess.run(
            ["/usr/bin/python3", "-c", "import sys, wormhole._wordlist as wl; w = "
             "wl.raw_words.values(); sys.exit(not (sys.argv[1] in [x[1].lower() for x in w] and "
             "sys.argv[2] in [x[0].lower() for x in w]))", odd, even])
        self.assertEqual(check.returncode, 0, code)

    def test_file_direct_and_relayed(self):
        write_random(os.path.join(self.src, "data.bin"), 2 * 1024 * 1024 + 3)
        for extra, path in (((), "direct"), (("--force-relay",), "relay")):
            with self.subTest(path):
                for f in os.listdir(self.out):
                    os.remove(os.path.join(self.out, f))
                rc, wrc, out, err, sender, _ = self.run_pair(
                    [os.path.join(self.src, "data.bin")], sender_extra=extra)
                self.assertEqual(rc, 0, sender.stderr)
                self.assertEqual(wrc, 0, err)
                self.assert_same(["data.bin"])
                self.assertEqual(sender.event("connected")["path"], path)

    def test_one_gib_file(self):
        # 1 GiB to Debian's wormhole receive, SHA-256 of both files compared.
        self.make_tree({"big.bin": 1 << 30})
        rc, wrc, out, err, sender, _ = self.run_pair([os.path.join(self.src, "big.bin")])
        self.assertEqual(rc, 0, sender.stderr)
        self.assertEqual(wrc, 0, err)
        self.assertEqual(sha256(os.path.join(self.src, "big.bin")),
                         sha256(os.path.join(self.out, "big.bin")))

    def test_directory(self):
        tree = {"docs/a.txt": 1000, "docs/sub/b.bin": 200000, "docs/sub/deeper/c": 0}
        self.make_tree(tree)
        rc, wrc, out, err, sender, _ = self.run_pair([os.path.join(self.src, "docs")])
        self.assertEqual(rc, 0, sender.stderr)
        self.assertEqual(wrc, 0, err)
        self.assert_same(tree)
        self.assertEqual(sender.event("done")["files"], 3)
        self.assertEqual([f for f in os.listdir(tempfile.gettempdir())
                          if f.startswith("ferry-wormhole-")], [])  # the zip is gone

    def test_wrong_code(self):
        sender = self.ferry_send(["--text", "secret"])
        code = sender.wait_event("code", timeout=20)["code"]
        nameplate = code.split("-")[0]
        receiver = self.wormhole_receive(nameplate + "-aardvark-absurd")
        out, err = receiver.communicate(timeout=60)
        rc = sender.finish(timeout=60)
        self.assertEqual(rc, 3, sender.stderr)
        self.assertEqual(sender.event("error")["code"], "wrong_code")
        self.assertNotEqual(receiver.returncode, 0)
        self.assertIn("Key confirmation failed", out + err)
        self.assertNotIn("secret", out)

    def test_receiver_declines(self):
        # The person answers "n": ferry hears a decline, not a hang.
        write_random(os.path.join(self.src, "data.bin"), 1000)
        rc, wrc, out, err, sender, _ = self.run_pair([os.path.join(self.src, "data.bin")],
                                                     receiver_extra=[], answer="n\n")
        self.assertNotEqual(wrc, 0)
        self.assertEqual(sender.event("error")["code"], "declined", sender.stderr)

    def test_usage_errors_before_any_connection(self):
        self.make_tree({"a": 1, "b": 1})
        a, b = os.path.join(self.src, "a"), os.path.join(self.src, "b")
        for args, words in (
                (["send", "--wormhole", a, b], "one file, one folder or a text"),
                (["send", "--wormhole", "--mailbox", "http://x/v1", a], "ws://"),
                (["send", "--wormhole", "--transit-helper", "udp:x:1", a], "tcp:"),
                (["send", "--wormhole", "--code", "not-a-code", a], "not a wormhole code"),
                (["receive", "--wormhole", "--mailbox", "ws://a b/v1", "7-aardvark-adroitness"],
                 "ws://")):
            with self.subTest(args[:2] + args[2:3]):
                r = Run(args + ["--mailbox", self.servers.mailbox] if "--mailbox" not in args
                        else args)
                self.assertEqual(r.finish(timeout=30), 2, r.stderr)
                self.assertIn(words, r.stderr.decode())

    def test_ferry_to_ferry_over_wormhole(self):
        write_random(os.path.join(self.src, "data.bin"), 500000)
        sender = self.ferry_send([os.path.join(self.src, "data.bin")])
        code = sender.wait_event("code", timeout=20)["code"]
        s = self.servers
        # Recognised as a wormhole code by its words alone.
        receiver = Run(["receive", "--mailbox", s.mailbox, "--transit-helper", s.transit,
                        "--yes", "--output", self.out, code])
        self.assertEqual(receiver.finish(timeout=60), 0, receiver.stderr)
        self.assertEqual(sender.finish(timeout=60), 0, sender.stderr)
        self.assert_same(["data.bin"])


@unittest.skipUnless(WORMHOLE, "magic-wormhole is not installed (scripts/setup.sh installs it)")
class WormholeThroughFerryServe(WormholeTest):
    """Unmodified wormhole clients use `ferry serve` as their mailbox server (/v1) and transit
    relay (its own port: the first bytes tell a relay request from HTTP)."""

    @classmethod
    def setUpClass(cls):
        cls.server = Server(extra=["--metrics-listen", "127.0.0.1:0"]).__enter__()
        port = cls.server.port
        cls.servers = type("Servers", (), {"mailbox": "ws://127.0.0.1:%d/v1" % port,
                                           "transit": "tcp:127.0.0.1:%d" % port})

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)

    def pair(self, send_args, receive_args, code):
        s = self.servers
        base = [WORMHOLE, "--relay-url", s.mailbox, "--transit-helper", s.transit]
        sender = subprocess.Popen(base + ["send", "--hide-progress", "--code", code] + send_args,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  cwd=self.src)
        receiver = subprocess.Popen(base + ["receive", "--hide-progress", "--accept-file"]
                                    + receive_args + [code], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True, cwd=self.out)
        outs = []
        for p in (receiver, sender):
            try:
                outs.append(p.communicate(timeout=90))
            except subprocess.TimeoutExpired:
                p.kill()
                outs.append(p.communicate())
        return receiver.returncode, sender.returncode, outs[0], outs[1]

    def metric(self, name):
        import urllib.request
        text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.server.metrics_port,
                                      timeout=5).read().decode()
        for line in text.splitlines():
            if line.startswith(name + " "):
                return int(line.split()[1])
        return None

    def test_text(self):
        rrc, src, (out, err), sent = self.pair(["--text", "via ferry serve"], [], "40-acme-adult")
        self.assertEqual(rrc, 0, err)
        self.assertEqual(src, 0, sent)
        self.assertEqual(out.strip(), "via ferry serve")

    def test_file_through_the_transit_relay(self):
        # Neither side listens: the bytes can only go through ferry serve's transit relay.
        self.make_tree({"data.bin": 3 * 1024 * 1024})
        before = self.metric("ferry_relay_sessions_total") or 0
        rrc, src, (out, err), sent = self.pair(["--no-listen", "data.bin"], ["--no-listen"],
                                               "41-acme-adult")
        self.assertEqual(rrc, 0, err)
        self.assertEqual(src, 0, sent)
        self.assert_same(["data.bin"])
        self.assertIn("relay", out + err)
        self.assertEqual(self.metric("ferry_relay_sessions_total"), before + 1)

    def test_directory_direct(self):
        self.make_tree({"dir/a": 1000, "dir/b/c": 5000})
        rrc, src, (out, err), sent = self.pair(["dir"], [], "42-acme-adult")
        self.assertEqual(rrc, 0, err)
        self.assertEqual(src, 0, sent)
        self.assert_same(["dir/a", "dir/b/c"])

    def test_wrong_code(self):
        s = self.servers
        base = [WORMHOLE, "--relay-url", s.mailbox, "--transit-helper", s.transit]
        sender = subprocess.Popen(base + ["send", "--code", "43-acme-adult", "--text", "x"],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        receiver = subprocess.run(base + ["receive", "43-acme-adulz"], capture_output=True,
                                  text=True, timeout=60)
        out, _ = sender.communicate(timeout=60)
        self.assertNotEqual(receiver.returncode, 0)
        self.assertIn("Key confirmation failed", receiver.stdout + receiver.stderr)
        self.assertIn("Key confirmation failed", out)

    def test_hostile_transit_relay_clients(self):
        import socket
        port = self.server.port

        def line(text):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(text.encode())
            return sock

        def answer(sock):
            try:
                return sock.recv(100)
            except socket.timeout:
                return None
            except ConnectionResetError:  # closed with our excess bytes unread
                return b""

        # Not a relay request: told so, and closed.
        for bad in ("please relay nonsense\n", "please relay " + "a" * 64 + "\n",
                    "please " + "x" * 300):
            with self.subTest(bad[:20]):
                sock = line(bad)
                self.assertEqual(answer(sock), b"bad handshake\n")
                self.assertEqual(answer(sock), b"")
                sock.close()
        # Two sides pair ("ok"); a third side with the same token is turned away, and the pair
        # carries bytes both ways exactly as sent.
        token = os.urandom(32).hex()
        a = line("please relay %s for side %s\n" % (token, "1" * 16))
        b = line("please relay %s for side %s\n" % (token, "2" * 16))
        self.assertEqual(answer(a), b"ok\n")
        self.assertEqual(answer(b), b"ok\n")
        c = line("please relay %s for side %s\n" % (token, "3" * 16))
        self.assertEqual(answer(c), b"")
        a.sendall(b"hello b")
        self.assertEqual(b.recv(100), b"hello b")
        b.sendall(b"hello a")
        self.assertEqual(a.recv(100), b"hello a")
        for s in (a, b, c):
            s.close()

    def test_hostile_mailbox_clients(self):
        from wsclient import WebSocket
        ws = WebSocket(self.server.port, path="/v1")
        self.assertEqual(ws.status, 101)
        self.assertEqual(ws.recv_json()["type"], "welcome")
        # Errors are answered with what was wrong; after a few the connection is closed.
        ws.send_text("not json")
        self.assertEqual(ws.recv_json()["type"], "error")
        ws.send_json({"type": "claim", "nameplate": "1"})
        self.assertEqual(ws.recv_json()["type"], "ack")
        self.assertEqual(ws.recv_json()["error"], "must bind first")
        errors = 0
        closed = False
        try:
            for _ in range(20):
                ws.send_json({"type": "teleport"})
                op, payload = ws.recv()
                while op == 1 and json.loads(payload)["type"] == "ack":
                    op, payload = ws.recv()
                if op == 8:
                    closed = True
                    break
                errors += 1
        except (OSError, ConnectionError):
            closed = True
        self.assertTrue(closed)
        self.assertLess(errors, 10)
        ws.close()

    def test_ferry_and_wormhole_meet_at_ferry_serve(self):
        self.make_tree({"data.bin": 200000})
        s = self.servers
        sender = Run(["send", "--wormhole", "--mailbox", s.mailbox, "--transit-helper", s.transit,
                      "--force-relay", os.path.join(self.src, "data.bin")])
        code = sender.wait_event("code", timeout=20)["code"]
        receiver = subprocess.run(
            [WORMHOLE, "--relay-url", s.mailbox, "--transit-helper", s.transit, "receive",
             "--no-listen", "--hide-progress", "--accept-file", code], capture_output=True,
            text=True, timeout=90, cwd=self.out)
        self.assertEqual(receiver.returncode, 0, receiver.stderr)
        self.assertEqual(sender.finish(timeout=60), 0, sender.stderr)
        self.assert_same(["data.bin"])
        self.assertEqual(sender.event("connected")["path"], "relay")
