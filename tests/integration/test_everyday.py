"""Everyday use, as a new user meets it: either side first, typos that do not spend the code,
conflicts decided before anything is accepted, pipes in and out, a QR code, Ctrl-C told to the
other side, and a transfer with no server on one machine. Real binaries, a real server."""
import hashlib
import os
import pty
import re
import select
import signal
import subprocess
import threading
import time
import unittest

from ferrylib import FERRY, Run, Server, TempDirTest, receive, send, write_random

SANITIZED = os.environ.get("FERRY_SANITIZED") in ("ON", "1")
# The pipe tests move 1 GiB in the release build; the sanitizers' build is ~10x slower.
PIPE_BYTES = (64 if SANITIZED else 1024) << 20
ENV = {k: v for k, v in os.environ.items() if k != "FERRY_SERVER"}


def qr_lines_to_pgm(lines, path, scale=6):
    """A QR code drawn with half blocks (light modules drawn) as a greyscale image."""
    rows = []
    for line in lines:
        rows.append([ch in "\u2588\u2580" for ch in line])
        rows.append([ch in "\u2588\u2584" for ch in line])
    width = max(len(r) for r in rows)
    pad = 4
    w, h = (width + 2 * pad) * scale, (len(rows) + 2 * pad) * scale
    img = bytearray([255]) * (w * h)
    for y, row in enumerate(rows):
        for x in range(width):
            if x < len(row) and row[x]:
                continue
            for dy in range(scale):
                start = ((y + pad) * scale + dy) * w + (x + pad) * scale
                img[start:start + scale] = bytes(scale)
    with open(path, "wb") as f:
        f.write(b"P5 %d %d 255\n" % (w, h) + bytes(img))


class Pty:
    """A ferry process on a pseudo-terminal (stdin and stderr), as a person runs it."""

    def __init__(self, args):
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen([FERRY] + args, stdin=slave, stdout=subprocess.PIPE,
                                     stderr=slave, env=ENV)
        os.close(slave)
        self.seen = b""

    def expect(self, needle, timeout=60):
        deadline = time.time() + timeout
        while needle.encode() not in self.seen:
            left = deadline - time.time()
            if left <= 0 or self.proc.poll() is not None and not select.select([self.master], [], [], 0)[0]:
                raise AssertionError("did not see %r in %r" % (needle, self.seen.decode(errors="replace")))
            if select.select([self.master], [], [], min(left, 0.5))[0]:
                try:
                    self.seen += os.read(self.master, 4096)
                except OSError:
                    pass

    def type(self, text):
        os.write(self.master, text.encode())

    def finish(self, timeout=60):
        self.proc.wait(timeout)
        while select.select([self.master], [], [], 0.1)[0]:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                break
            if not chunk:
                break
            self.seen += chunk
        os.close(self.master)
        return self.proc.returncode


class EverydayTest(TempDirTest):
    def file(self, name="f.bin", size=100000):
        path = os.path.join(self.src, name)
        write_random(path, size)
        return path

    def test_receiver_first_waits_then_receives(self):
        path = self.file()
        with Server() as srv:
            r = receive(srv, "401-tumbler-oxcart", self.out, extra=["--yes"])
            waiting = r.wait_event("waiting")
            self.assertIsNotNone(waiting)
            self.assertEqual(waiting["seconds"], 300)
            time.sleep(1)
            s = send(srv, [path], code="401-tumbler-oxcart")
            self.assertEqual(r.finish(), 0, r.stderr)
            self.assertEqual(s.finish(), 0, s.stderr)
            self.assertIn("rendezvous_receiver_waiting", srv.log())
        self.assertSameFile(path, os.path.join(self.out, "f.bin"))

    def test_a_misspelt_word_is_refused_locally_and_the_code_still_works(self):
        path = self.file()
        with Server() as srv:
            s = send(srv, [path], code="402-badge-oxcart")
            self.assertIsNotNone(s.wait_event("code"))
            typo = receive(srv, "402-bagde-oxcart", self.out, extra=["--yes"])
            self.assertEqual(typo.finish(), 2, typo.stderr)
            self.assertIn(b'"bagde" is not one of ferry\'s code words', typo.stderr)
            self.assertIn(b'did you mean "badge"', typo.stderr)
            self.assertIn(b"still good", typo.stderr)
            # A word left out is said the same way, before anything reaches the server.
            short = receive(srv, "402-badge", self.out, extra=["--yes"])
            self.assertEqual(short.finish(), 2, short.stderr)
            self.assertIn(b"a word is missing", short.stderr)
            self.assertIn(b"still good", short.stderr)
            # Nothing reached the server: the sender is still waiting, and the code works.
            self.assertNotIn("rendezvous_paired", srv.log())
            r = Run(["receive", "--server", srv.url, "--yes", "--output", self.out, "402", "bad", "oxc"])
            self.assertEqual(r.finish(), 0, r.stderr)
            self.assertEqual(s.finish(), 0, s.stderr)
        self.assertSameFile(path, os.path.join(self.out, "f.bin"))

    def test_an_ambiguous_prefix_is_refused(self):
        p = subprocess.run([FERRY, "receive", "--server", "http://127.0.0.1:1", "7-c-oxcart"],
                           capture_output=True, timeout=10, env=ENV)
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"type more of the word", p.stderr)

    def conflict(self, answer, code):
        """Sends f.bin into a folder that has one; the person answers the prompt."""
        path = self.file()
        existing = os.path.join(self.out, "f.bin")
        with open(existing, "w") as f:
            f.write("precious")
        with Server() as srv:
            s = send(srv, [path], code=code)
            self.assertIsNotNone(s.wait_event("code"))
            r = Pty(["receive", "--server", srv.url, "--output", self.out, code])
            r.expect("[o]verwrite, keep both ([r]ename the new ones), or [c]ancel?")
            self.assertIn(b'"f.bin" already exists', r.seen)
            r.type(answer + "\n")
            status = r.finish()
            s.finish()
        return path, existing, status, r, s

    def test_an_unclear_answer_asks_again_instead_of_declining(self):
        """Enter alone at "Accept? [y/n]" and a "y" at the conflict question ask again; the
        transfer then goes the way the person finally answers (the code is not used up)."""
        path = self.file()
        with Server() as srv:
            s = send(srv, [path], code="408-acorn-zebra")
            self.assertIsNotNone(s.wait_event("code"))
            r = Pty(["receive", "--server", srv.url, "--output", self.out, "408-acorn-zebra"])
            r.expect("Accept? [y/n]")
            r.type("\n")
            r.expect("Type y to accept or n to decline:")
            r.type("y\n")
            self.assertEqual(r.finish(), 0, r.seen)
            self.assertEqual(s.finish(), 0, s.stderr)
        self.assertSameFile(path, os.path.join(self.out, "f.bin"))
        path, existing, status, r, s = self.conflict("y\nr", "409-acorn-zebra")
        self.assertEqual(status, 0, r.seen)
        self.assertIn(b"Type o to overwrite, r to keep both", r.seen)
        with open(existing) as f:
            self.assertEqual(f.read(), "precious")
        self.assertSameFile(path, os.path.join(self.out, "f (1).bin"))

    def test_no_answer_at_all_says_why_it_declined(self):
        path = self.file()
        with Server() as srv:
            s = send(srv, [path], code="410-acorn-zebra")
            self.assertIsNotNone(s.wait_event("code"))
            r = subprocess.run([FERRY, "receive", "--server", srv.url, "--output", self.out,
                                "410-acorn-zebra"], stdin=subprocess.DEVNULL, capture_output=True,
                               timeout=60, env=ENV)
            s.finish()
        self.assertEqual(r.returncode, 4, r.stderr)
        self.assertIn(b"Nobody answered (the input ended)", r.stderr)
        self.assertIn(b"--yes", r.stderr)

    def test_conflict_rename_keeps_both(self):
        path, existing, status, r, s = self.conflict("r", "403-acorn-zebra")
        self.assertEqual(status, 0, r.seen)
        self.assertEqual(s.proc.returncode, 0, s.stderr)
        with open(existing) as f:
            self.assertEqual(f.read(), "precious")
        self.assertSameFile(path, os.path.join(self.out, "f (1).bin"))
        self.assertIn(b'saving the new one as "f (1).bin"', r.seen)

    def test_conflict_overwrite_replaces(self):
        path, existing, status, r, s = self.conflict("o", "404-acorn-zebra")
        self.assertEqual(status, 0, r.seen)
        self.assertSameFile(path, existing)
        self.assertEqual(sorted(os.listdir(self.out)), ["f.bin"])

    def test_conflict_cancel_tells_the_sender_only_a_decline(self):
        _, existing, status, r, s = self.conflict("c", "405-acorn-zebra")
        self.assertEqual(status, 4, r.seen)
        self.assertEqual(s.proc.returncode, 4)
        self.assertEqual(s.event("error")["code"], "declined")
        # The sender learns nothing about what exists over there.
        self.assertNotIn(b"exist", s.stderr)
        self.assertNotIn("exist", s.event("error")["message"])
        with open(existing) as f:
            self.assertEqual(f.read(), "precious")

    def test_rename_keeps_a_folder_that_exists_apart_as_a_whole(self):
        album = os.path.join(self.src, "album")
        os.makedirs(os.path.join(album, "inner"))
        write_random(os.path.join(album, "a.jpg"), 1000)
        write_random(os.path.join(album, "inner", "b.jpg"), 1000)
        old = os.path.join(self.out, "album")
        os.makedirs(old)
        with open(os.path.join(old, "a.jpg"), "w") as f:
            f.write("precious")
        with Server() as srv:
            s = send(srv, [album], code="408-acorn-zebra")
            self.assertIsNotNone(s.wait_event("code"))
            r = receive(srv, "408-acorn-zebra", self.out, extra=["--yes", "--rename"])
            self.assertEqual(r.finish(), 0, r.stderr)
            s.finish()
        self.assertEqual(sorted(os.listdir(self.out)), ["album", "album (1)"])
        self.assertEqual(os.listdir(old), ["a.jpg"])
        with open(os.path.join(old, "a.jpg")) as f:
            self.assertEqual(f.read(), "precious")
        self.assertSameFile(os.path.join(album, "a.jpg"), os.path.join(self.out, "album (1)", "a.jpg"))
        self.assertSameFile(os.path.join(album, "inner", "b.jpg"),
                            os.path.join(self.out, "album (1)", "inner", "b.jpg"))
        notes = [e["text"] for e in r.events if e["event"] == "note"]
        self.assertIn('The folder "album" exists here: saving the new one as "album (1)"', notes)

    def test_yes_with_rename_and_a_missing_output_folder(self):
        path = self.file()
        target = os.path.join(self.out, "new", "deeper")
        os.makedirs(target)
        with open(os.path.join(target, "f.bin"), "w") as f:
            f.write("old")
        with Server() as srv:
            s = send(srv, [path], code="406-acorn-zebra")
            self.assertIsNotNone(s.wait_event("code"))
            r = receive(srv, "406-acorn-zebra", target, extra=["--yes", "--rename"])
            self.assertEqual(r.finish(), 0, r.stderr)
            s.finish()
            # A folder that does not exist yet is created.
            missing = os.path.join(self.out, "not", "there")
            s2 = send(srv, [path], code="407-acorn-zebra")
            self.assertIsNotNone(s2.wait_event("code"))
            r2 = receive(srv, "407-acorn-zebra", missing, extra=["--yes"])
            self.assertEqual(r2.finish(), 0, r2.stderr)
            s2.finish()
        self.assertSameFile(path, os.path.join(target, "f (1).bin"))
        self.assertSameFile(path, os.path.join(missing, "f.bin"))

    def test_a_pipe_streamed_in_and_written_to_stdout(self):
        """send - streams a pipe without spooling it (the code comes while the pipe is still being
        written); receive -o - writes it to stdout; what went in and what came out hash alike."""
        sent = hashlib.sha256()
        with Server() as srv:
            sender = subprocess.Popen(
                [FERRY, "send", "--server", srv.url, "--code", "408-acorn-zebra", "--json", "-"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
            writing = {"done": False}

            def produce():
                for _ in range(PIPE_BYTES >> 20):
                    block = os.urandom(1 << 20)
                    sent.update(block)
                    sender.stdin.write(block)
                sender.stdin.close()
                writing["done"] = True

            producer = threading.Thread(target=produce)
            producer.start()
            self.assertIn(b'"code"', sender.stdout.readline())
            self.assertFalse(writing["done"], "the sender read the whole pipe before its code")
            receiver = subprocess.Popen(
                [FERRY, "receive", "--server", srv.url, "--yes", "-o", "-", "408-acorn-zebra"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
            got = hashlib.sha256()
            n = 0
            while True:
                block = receiver.stdout.read(1 << 20)
                if not block:
                    break
                got.update(block)
                n += len(block)
            err = receiver.stderr.read()
            self.assertEqual(receiver.wait(300), 0, err)
            producer.join(60)
            sender.stdout.read()
            serr = sender.stderr.read()
            self.assertEqual(sender.wait(60), 0, serr)
        self.assertEqual(n, PIPE_BYTES)
        self.assertEqual(got.hexdigest(), sent.hexdigest())
        self.assertIn(b"streamed, size unknown", err)
        self.assertIn(b"written to stdout", err)

    def test_stdout_with_exact_content_and_a_file_on_stdin(self):
        """Known content both ways: a file redirected to stdin is sent with its size and
        arrives on stdout byte for byte."""
        path = self.file(size=3 << 20)
        with Server() as srv, open(path, "rb") as stdin:
            s = subprocess.Popen([FERRY, "send", "--server", srv.url, "--code", "409-acorn-zebra",
                                  "--json", "--name", "x.bin", "-"],
                                 stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
            self.assertIn(b'"code"', s.stdout.readline())
            r = subprocess.run([FERRY, "receive", "--server", srv.url, "--yes", "-o", "-",
                                "409-acorn-zebra"], capture_output=True, timeout=120, env=ENV)
            s.communicate(timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(path, "rb") as f:
            self.assertEqual(hashlib.sha256(r.stdout).hexdigest(), hashlib.sha256(f.read()).hexdigest())
        self.assertIn(b"x.bin  (3.1 MB)", r.stderr)

    def test_stdout_refuses_a_folder_and_json(self):
        os.makedirs(os.path.join(self.src, "d"))
        for name in ("a", "b"):
            with open(os.path.join(self.src, "d", name), "w") as f:
                f.write(name)
        with Server() as srv:
            s = send(srv, [os.path.join(self.src, "d")], code="410-acorn-zebra")
            self.assertIsNotNone(s.wait_event("code"))
            r = subprocess.run([FERRY, "receive", "--server", srv.url, "--yes", "-o", "-",
                                "410-acorn-zebra"], capture_output=True, timeout=60, env=ENV)
            s.finish()
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn(b"-o - writes one file", r.stderr)
        self.assertEqual(r.stdout, b"")
        p = subprocess.run([FERRY, "receive", "--json", "-o", "-", "7-tumbler-oxcart"],
                           capture_output=True, timeout=10, env=ENV)
        self.assertEqual(p.returncode, 2)

    def test_a_text_message_ends_with_the_text(self):
        with Server() as srv:
            s = send(srv, [], code="411-acorn-zebra", extra=["--text", "hello there"])
            self.assertIsNotNone(s.wait_event("code"))
            r = subprocess.run([FERRY, "receive", "--server", srv.url, "411-acorn-zebra"],
                               capture_output=True, timeout=60, env=ENV)
            s.finish()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, b"hello there\n")
        self.assertNotIn(b"Received", r.stderr)
        self.assertNotIn(b"0 files", r.stderr)

    def test_the_printed_command_works_as_printed_where_no_server_is_configured(self):
        """The sender names its server in the command it prints: pasted on a machine with no
        server configured, it reaches the sender instead of looking on the LAN."""
        bare = dict(ENV, XDG_CONFIG_HOME=self.tmp)
        with Server() as srv:
            p = subprocess.Popen([FERRY, "send", "--server", srv.url, "--text", "as printed"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
            p.stdout.readline()  # "Sending ... On the other computer run:"
            command = p.stdout.readline().decode().split()
            self.assertEqual(command[:3], ["ferry", "receive", "--server"], command)
            self.assertEqual(command[3], srv.url)
            r = subprocess.run([FERRY] + command[1:], capture_output=True, timeout=60, env=bare)
            p.wait(20)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, b"as printed\n")

    def test_qr_decodes_back_to_the_link(self):
        with Server() as srv:
            p = subprocess.Popen([FERRY, "send", "--server", srv.url, "--qr", "--text", "qr"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
            lines = []
            while True:
                line = p.stdout.readline().decode()
                self.assertTrue(line, "the sender stopped before printing the QR code")
                lines.append(line.rstrip("\n"))
                if lines[-1] and lines[-1].strip("\u2580") == "":
                    break  # the last half row of the quiet zone
            p.send_signal(signal.SIGINT)
            p.wait(10)
        link = next(l.split("or open:", 1)[1].strip() for l in lines if l.startswith("or open:"))
        start = lines.index("or scan:") + 1
        pgm = os.path.join(self.tmp, "qr.pgm")
        qr_lines_to_pgm(lines[start:], pgm)
        decoded = subprocess.run(["zbarimg", "--quiet", "--raw", pgm], capture_output=True,
                                 text=True, timeout=30)
        self.assertEqual(decoded.returncode, 0, decoded.stderr)
        self.assertEqual(decoded.stdout.strip(), link)

    def test_ctrl_c_is_told_to_the_other_side(self):
        path = self.file(size=(200 if SANITIZED else 1000) << 20)
        with Server() as srv:
            # The receiver cancels mid-transfer.
            s = send(srv, [path], code="412-acorn-zebra")
            self.assertIsNotNone(s.wait_event("code"))
            r = receive(srv, "412-acorn-zebra", self.out, extra=["--yes"])
            self.assertIsNotNone(r.wait_event("progress"))
            r.proc.send_signal(signal.SIGINT)
            self.assertEqual(r.finish(), 130, r.stderr)
            self.assertEqual(s.finish(), 4, s.stderr)
            self.assertEqual(s.event("error")["code"], "cancelled")
            self.assertIn("the receiver cancelled", s.event("error")["message"])
            self.assertIn("the sender was told", r.event("error")["message"])
            # The sender cancels mid-transfer.
            s2 = send(srv, [path], code="413-acorn-zebra")
            self.assertIsNotNone(s2.wait_event("code"))
            r2 = receive(srv, "413-acorn-zebra", os.path.join(self.tmp, "out2"), extra=["--yes"])
            self.assertIsNotNone(s2.wait_event("progress"))
            s2.proc.send_signal(signal.SIGINT)
            self.assertEqual(s2.finish(), 130, s2.stderr)
            self.assertEqual(r2.finish(), 4, r2.stderr)
            self.assertIn("the sender cancelled", r2.event("error")["message"])
            # A sender stopped before anyone joined talks about nothing it did not do.
            s3 = send(srv, [path], code="414-acorn-zebra")
            self.assertIsNotNone(s3.wait_event("code"))
            s3.proc.send_signal(signal.SIGINT)
            self.assertEqual(s3.finish(), 130)
            self.assertEqual(s3.event("error")["message"], "cancelled; nothing was sent")

    def test_resumed_rate_counts_only_new_bytes(self):
        """After a resume the summary says what was already there."""
        path = self.file(size=4 << 20)
        with open(path, "rb") as f:
            head = f.read(3 << 20)
        with open(os.path.join(self.out, "f.bin.ferry-part"), "wb") as f:
            f.write(head)
        with Server() as srv:
            s = send(srv, [path], code="415-acorn-zebra")
            self.assertIsNotNone(s.wait_event("code"))
            r = subprocess.run([FERRY, "receive", "--server", srv.url, "--yes", "-o", self.out,
                                "415-acorn-zebra"], capture_output=True, timeout=60, env=ENV)
            s.finish()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"(3.1 MB were already there)", r.stderr)
        self.assertSameFile(path, os.path.join(self.out, "f.bin"))

    def test_a_stale_part_file_is_caught_and_not_saved(self):
        """The bytes sent now are not hashed (both sides agree on prefix-hash), so the resumed
        prefix alone carries the check: a part file left from another version of the file must
        still fail, and nothing lands under the final name. The part file is cut back to what it
        held (this transfer did not write those bytes: not its to delete), and the message says
        what to do."""
        path = self.file(size=4 << 20)
        stale = os.urandom(3 << 20)  # not the file's first 3 MiB
        with open(os.path.join(self.out, "f.bin.ferry-part"), "wb") as f:
            f.write(stale)
        with Server() as srv:
            s = send(srv, [path], code="416-acorn-zebra")
            self.assertIsNotNone(s.wait_event("code"))
            r = receive(srv, "416-acorn-zebra", self.out, extra=["--yes"])
            self.assertEqual(r.finish(), 11, r.stderr)
            s.finish()
        self.assertEqual(r.event("resumed")["bytes"], 3 << 20)
        self.assertEqual(r.event("error")["code"], "integrity")
        self.assertIn('remove "f.bin.ferry-part" and receive again', r.event("error")["message"])
        self.assertFalse(os.path.exists(os.path.join(self.out, "f.bin")))
        with open(os.path.join(self.out, "f.bin.ferry-part"), "rb") as f:
            self.assertEqual(f.read(), stale)


class NoServerTest(TempDirTest):
    """No server configured: the receiver finds the sender by the code on this machine's
    networks (here: the same host). The lab checks two machines on one bridge."""

    def test_no_server_falls_back_to_this_network(self):
        env = dict(ENV, XDG_CONFIG_HOME=self.tmp)
        path = os.path.join(self.src, "f.bin")
        write_random(path, 300000)
        s = Run(["send", path], env=env)
        note = s.wait_event("note")
        self.assertIn("works on this network only", note["text"])
        self.assertIn("--server", note["text"])
        code = s.wait_event("code")
        self.assertRegex(code["code"], r"^[1-9][0-9]?-[a-z]+-[a-z]+$")
        self.assertEqual(code["link"], "")
        r = Run(["receive", "--yes", "--output", self.out, code["code"]], env=env)
        self.assertEqual(r.finish(), 0, r.stderr)
        self.assertEqual(s.finish(), 0, s.stderr)
        self.assertSameFile(path, os.path.join(self.out, "f.bin"))

    def test_a_wrong_guess_ends_a_lan_sender(self):
        env = dict(ENV, XDG_CONFIG_HOME=self.tmp)
        s = Run(["send", "--lan", "--code", "77-acorn-zebra", "--text", "secret"], env=env)
        self.assertIsNotNone(s.wait_event("code"))
        r = Run(["receive", "--lan", "77-acorn-yogurt"], env=env)
        self.assertEqual(r.finish(), 3, r.stderr)
        self.assertEqual(s.finish(), 3, s.stderr)
        self.assertEqual(s.event("error")["code"], "wrong_code")
        self.assertIn("did not match", s.event("error")["message"])
        # Nobody answers for that number any more.
        r2 = Run(["receive", "--lan", "--wait", "1", "77-acorn-zebra"], env=env)
        self.assertEqual(r2.finish(), 6, r2.stderr)
        self.assertEqual(r2.event("error")["code"], "no_sender")


if __name__ == "__main__":
    unittest.main()
