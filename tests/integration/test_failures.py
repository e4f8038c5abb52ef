"""Every failure a user can meet ends with a clear error, a documented exit status, and nothing lost."""
import os
import signal
import socket
import subprocess
import threading
import time
import unittest

from ferrylib import FERRY, Blinker, Run, Server, TempDirTest, free_port, receive, send, write_random

IN_CI = os.environ.get("CI") == "true"


class FailureTest(TempDirTest):
    def file(self, name="f.bin", size=10000):
        path = os.path.join(self.src, name)
        write_random(path, size)
        return path

    def test_no_command_help_and_a_mistyped_command(self):
        """`ferry` shows the help (exit 2), `ferry help [COMMAND]` shows it with examples (exit 0),
        and a mistyped command names the closest one instead of "A subcommand is required"."""
        bare = subprocess.run([FERRY], capture_output=True, timeout=10)
        self.assertEqual(bare.returncode, 2)
        self.assertIn(b"Examples:", bare.stderr)
        self.assertIn(b"ferry send report.pdf", bare.stderr)
        top = subprocess.run([FERRY, "help"], capture_output=True, timeout=10)
        self.assertEqual(top.returncode, 0, top.stderr)
        self.assertIn(b"Subcommands:", top.stdout)
        for command in ("send", "receive", "serve", "doctor"):
            one = subprocess.run([FERRY, "help", command], capture_output=True, timeout=10)
            self.assertEqual(one.returncode, 0, one.stderr)
            self.assertIn(b"Usage: ferry " + command.encode(), one.stdout)
            self.assertIn(b"Examples:", one.stdout)
        typo = subprocess.run([FERRY, "sned", "x"], capture_output=True, timeout=10)
        self.assertEqual(typo.returncode, 2)
        self.assertIn(b'"sned" is not a ferry command; did you mean "send"?', typo.stderr)
        self.assertNotIn(b"A subcommand is required", typo.stderr)
        hostile = subprocess.run([FERRY, "\x1b[31mred"], capture_output=True, timeout=10)
        self.assertEqual(hostile.returncode, 2)
        self.assertNotIn(b"\x1b", hostile.stderr)
        sizes = subprocess.run([FERRY, "serve", "--help"], capture_output=True, timeout=10)
        self.assertIn(b"--relay-max-bytes SIZE=64G", sizes.stdout)
        self.assertNotIn(b"kb(=1024b)", sizes.stdout)

    def test_wrong_code_fails_both_sides_and_writes_nothing(self):
        path = self.file()
        with Server() as srv:
            s = send(srv, [path], code="201-acorn-zebra")
            self.assertIsNotNone(s.wait_event("code"))
            r = receive(srv, "201-acorn-yogurt", self.out, extra=["--yes"])
            self.assertEqual(r.finish(), 3, r.stderr)
            self.assertEqual(s.finish(), 3, s.stderr)
        self.assertEqual(r.event("error")["code"], "wrong_code")
        self.assertEqual(s.event("error")["code"], "wrong_code")
        self.assertIn(b"nothing was sent", r.stderr)
        self.assertEqual(os.listdir(self.out), [])

    def test_used_code_gets_one_guess(self):
        path = self.file()
        with Server() as srv:
            s = send(srv, [path], code="202-acorn-zebra")
            self.assertIsNotNone(s.wait_event("code"))
            r = receive(srv, "202-acorn-yogurt", self.out, extra=["--yes"])
            self.assertEqual(r.finish(), 3)
            s.finish()
            # The right words, too late: the nameplate is gone. With --wait 0 that is said at
            # once; by default the receiver waits for a sender to start with it, a bounded time.
            r2 = receive(srv, "202-acorn-zebra", self.out, extra=["--yes", "--wait", "0"])
            self.assertEqual(r2.finish(), 6, r2.stderr)
            started = time.time()
            r3 = receive(srv, "202-acorn-zebra", self.out, extra=["--yes", "--wait", "1"])
            self.assertEqual(r3.finish(), 6, r3.stderr)
            self.assertLess(time.time() - started, 10)
        self.assertEqual(r2.event("error")["code"], "code_unknown")
        self.assertEqual(r3.event("waiting")["seconds"], 1)
        self.assertEqual(r3.event("error")["code"], "no_sender")

    def test_declined_offer(self):
        path = self.file()
        with Server() as srv:
            s = send(srv, [path], code="203-acorn-zebra")
            self.assertIsNotNone(s.wait_event("code"))
            r = receive(srv, "203-acorn-zebra", self.out, input_text="n\n")
            self.assertEqual(r.finish(), 4, r.stderr)
            self.assertEqual(s.finish(), 4, s.stderr)
        self.assertEqual(s.event("error")["code"], "declined")
        self.assertIsNotNone(r.event("offer"))
        self.assertEqual(os.listdir(self.out), [])

    def test_accept_by_answering_yes(self):
        path = self.file()
        with Server() as srv:
            s = send(srv, [path], code="204-acorn-zebra")
            self.assertIsNotNone(s.wait_event("code"))
            r = receive(srv, "204-acorn-zebra", self.out, input_text="y\n")
            self.assertEqual(r.finish(), 0, r.stderr)
            self.assertEqual(s.finish(), 0)
        self.assertSameFile(path, os.path.join(self.out, "f.bin"))

    def test_an_existing_file_is_not_overwritten_and_the_sender_cannot_tell_it_exists(self):
        # --yes alone keeps both. Once it declined at once, and the sender learnt which of its
        # names existed here (an absent name got an accept).
        path = self.file()
        existing = os.path.join(self.out, "f.bin")
        with open(existing, "w") as f:
            f.write("precious")
        with Server() as srv:
            s = send(srv, [path], code="205-acorn-zebra")
            self.assertIsNotNone(s.wait_event("code"))
            r = receive(srv, "205-acorn-zebra", self.out, extra=["--yes"])
            self.assertEqual(r.finish(), 0, r.stderr)
            self.assertEqual(s.finish(), 0, s.stderr)
        with open(existing) as f:
            self.assertEqual(f.read(), "precious")
        self.assertEqual(sorted(os.listdir(self.out)), ["f (1).bin", "f.bin"])
        self.assertSameFile(path, os.path.join(self.out, "f (1).bin"))
        # The sender's events are those of any accepted transfer.
        self.assertEqual([e["event"] for e in s.events if e["event"] in ("declined", "error")], [])

    def test_overwrite_when_asked(self):
        path = self.file()
        with open(os.path.join(self.out, "f.bin"), "w") as f:
            f.write("old")
        with Server() as srv:
            s = send(srv, [path], code="206-acorn-zebra")
            self.assertIsNotNone(s.wait_event("code"))
            r = receive(srv, "206-acorn-zebra", self.out, extra=["--yes", "--overwrite"])
            self.assertEqual(r.finish(), 0, r.stderr)
            self.assertEqual(s.finish(), 0)
        self.assertSameFile(path, os.path.join(self.out, "f.bin"))

    def test_sender_killed_mid_transfer(self):
        path = self.file("big.bin", 300 << 20)
        with Server() as srv:
            s = send(srv, [path], code="207-acorn-zebra")
            self.assertIsNotNone(s.wait_event("code"))
            r = receive(srv, "207-acorn-zebra", self.out, extra=["--yes"])
            self.assertIsNotNone(r.wait_event("progress"))
            s.kill()
            start = time.time()
            self.assertEqual(r.finish(), 7, r.stderr)
            self.assertLess(time.time() - start, 10)
        self.assertEqual(r.event("error")["code"], "peer_gone")
        self.assertIn("mid-transfer", r.event("error")["message"])
        # Documented: no final file; the partial one stays as .ferry-part for a resume.
        self.assertFalse(os.path.exists(os.path.join(self.out, "big.bin")))
        self.assertTrue(os.path.exists(os.path.join(self.out, "big.bin.ferry-part")))

    def test_receiver_killed_mid_transfer_comes_back_with_the_same_code(self):
        path = self.file("big.bin", 600 << 20)
        with Server() as srv:
            s = send(srv, [path], code="208-acorn-zebra")
            self.assertIsNotNone(s.wait_event("code"))
            r = receive(srv, "208-acorn-zebra", self.out, extra=["--yes"])
            self.assertIsNotNone(r.wait_event("progress"))
            r.kill()
            # The sender notices and keeps the code for the receiver's return.
            note = s.wait_note("continues where it stopped")
            self.assertIsNotNone(note, s.stderr)
            self.assertIn("the same code (or link) continues", note["text"])
            part = os.path.join(self.out, "big.bin.ferry-part")
            kept = os.path.getsize(part)
            self.assertGreater(kept, 0)
            # The same command again: it continues from the part file, no new code.
            started = time.time()
            again = receive(srv, "208-acorn-zebra", self.out, extra=["--yes", "--wait", "0"])
            resumed = again.wait_event("resumed")
            self.assertIsNotNone(resumed, again.stderr)
            self.assertEqual(resumed["bytes"], kept)
            moving = again.wait_event("progress")
            self.assertIsNotNone(moving)
            print("killed receiver's restart to bytes moving again: %.2f s" % (time.time() - started))
            self.assertEqual(again.finish(), 0, again.stderr)
            self.assertEqual(s.finish(timeout=30), 0, s.stderr)
        self.assertSameFile(path, os.path.join(self.out, "big.bin"))
        self.assertFalse(os.path.exists(part))
        done = [e for e in s.events if e["event"] == "done"]
        self.assertEqual(len(done), 1)
        self.assertLess(done[0]["bytes"], 600 << 20)  # only the rest went out the second time

    def test_both_sides_reconnect_by_themselves_after_a_network_blink(self):
        # Only the relay, through a forwarder that resets every connection once mid-transfer
        # (the rendezvous and the relay alike): both sides come back on the same code by
        # themselves and the transfer continues from what arrived.
        path = self.file("big.bin", 400 << 20)
        env = {"FERRY_NO_RELAY_UDP": "1"}
        with Server() as srv:
            blinker = Blinker(srv.port)
            try:
                url = "http://127.0.0.1:%d" % blinker.port
                s = Run(["send", "--server", url, "--force-relay", "--code", "210-acorn-zebra", path],
                        env=env)
                self.assertIsNotNone(s.wait_event("code"))
                r = Run(["receive", "--server", url, "--force-relay", "--yes", "--output", self.out,
                         "210-acorn-zebra"], env=env)
                ev = r.wait_event("progress")
                while ev is not None and ev["bytes"] < (20 << 20):
                    ev = r.wait_event("progress")
                self.assertIsNotNone(ev, r.stderr)
                blinker.cut()
                self.assertEqual(r.finish(timeout=90), 0, r.stderr)
                self.assertEqual(s.finish(timeout=30), 0, s.stderr)
            finally:
                blinker.close()
        self.assertSameFile(path, os.path.join(self.out, "big.bin"))
        notes = [e["text"] for e in r.events if e["event"] == "note"]
        self.assertTrue(any("reconnecting to continue" in n for n in notes), notes)
        self.assertIsNotNone(r.event("resumed"))
        self.assertEqual(len([e for e in r.events if e["event"] == "offer"]), 1)

    def test_a_wrong_code_after_a_break_ends_the_comeback(self):
        path = self.file("big.bin", 600 << 20)
        with Server() as srv:
            s = send(srv, [path], code="209-acorn-zebra")
            self.assertIsNotNone(s.wait_event("code"))
            r = receive(srv, "209-acorn-zebra", self.out, extra=["--yes"])
            self.assertIsNotNone(r.wait_event("progress"))
            r.kill()
            note = s.wait_note("continues where it stopped")
            self.assertIsNotNone(note, s.stderr)
            # Still one guess: a wrong one now ends it, and the right one finds it gone.
            guess = receive(srv, "209-zebra-acorn", self.out, extra=["--yes", "--wait", "0"])
            self.assertEqual(guess.finish(), 3)
            self.assertEqual(s.finish(timeout=30), 3, s.stderr)
            late = receive(srv, "209-acorn-zebra", self.out, extra=["--yes", "--wait", "0"])
            self.assertEqual(late.finish(), 6)
        self.assertFalse(os.path.exists(os.path.join(self.out, "big.bin")))

    def test_server_refusing_connections(self):
        port = free_port()
        start = time.time()
        r = Run(["receive", "--server", "http://127.0.0.1:%d" % port, "--output", self.out, "5-acorn-zebra"])
        self.assertEqual(r.finish(), 5)
        self.assertLess(time.time() - start, 10)
        self.assertEqual(r.event("error")["code"], "server_unreachable")
        s = Run(["send", "--server", "http://127.0.0.1:%d" % port, self.file()])
        self.assertEqual(s.finish(), 5)

    def test_server_that_never_answers(self):
        # Accepts TCP, then says nothing: the client must give up within seconds, not hang.
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        held = []
        stop = threading.Event()

        def accept():
            listener.settimeout(0.2)
            while not stop.is_set():
                try:
                    held.append(listener.accept()[0])
                except OSError:
                    pass

        t = threading.Thread(target=accept)
        t.start()
        try:
            start = time.time()
            r = Run(["receive", "--server", "http://127.0.0.1:%d" % listener.getsockname()[1],
                     "--output", self.out, "5-acorn-zebra"])
            self.assertEqual(r.finish(), 5)
            self.assertLess(time.time() - start, 10)
            self.assertEqual(r.event("error")["code"], "server_unreachable")
        finally:
            stop.set()
            t.join()
            for c in held:
                c.close()
            listener.close()

    def test_garbage_server_urls(self):
        for url in ["garbage", "ftp://x", "http://h:99999", "http://a b", "http://[::1"]:
            p = subprocess.run([FERRY, "send", "--server", url, "--text", "x"], capture_output=True, timeout=10)
            self.assertEqual(p.returncode, 2, url)
            self.assertIn(b"server URL", p.stderr)

    def test_no_server_configured(self):
        """No usage error: the sender says it works on this network only, and how to name a
        server (test_everyday's NoServerTest carries such a transfer)."""
        env = dict(os.environ, XDG_CONFIG_HOME=self.tmp)
        env.pop("FERRY_SERVER", None)
        p = subprocess.Popen([FERRY, "send", "--text", "x"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env)
        try:
            out = p.stdout.readline() + p.stdout.readline()
        finally:
            p.send_signal(signal.SIGINT)
            _, err = p.communicate(timeout=10)
        self.assertIn(b"ferry receive ", out)
        self.assertIn(b"this network only", err)
        self.assertIn(b"--server", err)
        self.assertIn(b"FERRY_SERVER", err)
        self.assertEqual(p.returncode, 130)
        d = subprocess.run([FERRY, "doctor"], capture_output=True, timeout=10, env=env)
        self.assertIn(b"FERRY_SERVER", d.stdout)

    def test_server_from_environment_and_config(self):
        with Server() as srv:
            for how in ("env", "config"):
                env = dict(os.environ, XDG_CONFIG_HOME=os.path.join(self.tmp, how))
                if how == "env":
                    env["FERRY_SERVER"] = srv.url
                else:
                    env.pop("FERRY_SERVER", None)
                    os.makedirs(os.path.join(self.tmp, how, "ferry"))
                    with open(os.path.join(self.tmp, how, "ferry", "config"), "w") as f:
                        f.write("# ferry\nserver = %s\n" % srv.url)
                s = Run(["send", "--text", "via " + how], env=env)
                code = s.wait_event("code")
                self.assertIsNotNone(code, how)
                r = Run(["receive", code["code"]], env=env)
                self.assertEqual(r.finish(), 0, r.stderr)
                self.assertEqual(s.finish(), 0)
                self.assertEqual(r.event("text")["text"], "via " + how)

    def test_missing_file_is_a_usage_error(self):
        p = subprocess.run([FERRY, "send", "--server", "http://127.0.0.1:1", os.path.join(self.src, "nope")],
                           capture_output=True, timeout=10)
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"no such file", p.stderr)

    @unittest.skipUnless(os.geteuid() == 0 or IN_CI, "needs root to mount a small tmpfs")
    def test_disk_full(self):
        """A sized offer larger than the free space is refused before anything is written; the
        sender hears only "declined"."""
        small = os.path.join(self.tmp, "small")
        os.makedirs(small)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", small], check=True)
        try:
            path = self.file("big.bin", 20 << 20)
            with Server() as srv:
                s = send(srv, [path], code="209-acorn-zebra")
                self.assertIsNotNone(s.wait_event("code"))
                r = receive(srv, "209-acorn-zebra", small, extra=["--yes"])
                self.assertEqual(r.finish(), 9, r.stderr)
                self.assertEqual(s.finish(), 4, s.stderr)
            self.assertEqual(r.event("error")["code"], "disk_full")
            self.assertIn("needs 21.0 MB", r.event("error")["message"])
            self.assertIn("free", r.event("error")["message"])
            self.assertEqual(s.event("error")["code"], "declined")
            self.assertEqual(os.listdir(small), [])
        finally:
            subprocess.run(["umount", small])

    @unittest.skipUnless(os.geteuid() == 0 or IN_CI, "needs root to mount a small tmpfs")
    def test_disk_full_mid_transfer(self):
        """A stream has no size to check in advance: the disk fills while it arrives, and both
        sides say so."""
        small = os.path.join(self.tmp, "small")
        os.makedirs(small)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", small], check=True)
        try:
            with Server() as srv:
                s = Run(["send", "--server", srv.url, "--code", "210-acorn-zebra", "-"])
                self.assertIsNotNone(s.wait_event("code"))
                r = receive(srv, "210-acorn-zebra", small, extra=["--yes"])
                try:
                    for _ in range(20):
                        s.proc.stdin.write(os.urandom(1 << 20))
                except BrokenPipeError:
                    pass
                try:
                    s.proc.stdin.close()
                except BrokenPipeError:
                    pass
                self.assertEqual(r.finish(), 9, r.stderr)
                self.assertEqual(s.finish(), 9, s.stderr)
            self.assertEqual(r.event("error")["code"], "disk_full")
            self.assertIn("free some space", r.event("error")["message"])
            self.assertFalse(os.path.exists(os.path.join(small, "stdin")))
        finally:
            subprocess.run(["umount", small])


if __name__ == "__main__":
    unittest.main()
