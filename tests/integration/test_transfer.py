"""Whole transfers on loopback with the real binary and server."""
import os
import stat
import subprocess
import threading
import time

from ferrylib import FERRY, Run, Server, TempDirTest, receive, send, write_random


class TransferTest(TempDirTest):
    def test_small_file_direct(self):
        path = os.path.join(self.src, "report.pdf")
        write_random(path, 123457)
        s, r, rc_s, rc_r = self.transfer([path], "101-acorn-zebra")
        self.assertEqual((rc_s, rc_r), (0, 0), (s.stderr, r.stderr))
        self.assertSameFile(path, os.path.join(self.out, "report.pdf"))
        self.assertEqual(r.event("connected")["path"], "direct")
        self.assertEqual(r.event("done")["bytes"], 123457)
        self.assertEqual(s.event("done")["bytes"], 123457)
        self.assertEqual(os.listdir(self.out), ["report.pdf"])

    def test_wide_tcp_carries_a_file_over_four_connections(self):
        # Loopback's round trip is too short for wide TCP by itself: FERRY_TCP_CONNECTIONS asks
        # for it (the dialling side decides; both sides say so here, whichever dials).
        path = os.path.join(self.src, "big.bin")
        write_random(path, 48 << 20)
        env = {"FERRY_TCP_CONNECTIONS": "4", "FERRY_NO_UDP": "1"}
        with Server() as srv:
            s = send(srv, [path], code="109-acorn-zebra", env=env)
            self.assertIsNotNone(s.wait_event("code"))
            r = receive(srv, "109-acorn-zebra", self.out, extra=("--yes",), env=env)
            self.assertEqual(r.finish(), 0, r.stderr)
            self.assertEqual(s.finish(), 0, s.stderr)
        self.assertSameFile(path, os.path.join(self.out, "big.bin"))
        for side in (s, r):
            c = side.event("connected")
            self.assertEqual((c["path"], c["transport"], c["connections"]), ("direct", "tcp", 4), c)
        # Without it, one connection.
        small = os.path.join(self.src, "small.bin")
        write_random(small, 1000)
        _, r, rc_s, rc_r = self.transfer([small], "110-acorn-zebra", env={"FERRY_NO_UDP": "1"})
        self.assertEqual((rc_s, rc_r), (0, 0), r.stderr)
        self.assertEqual(r.event("connected")["connections"], 1)

    def test_link_receive(self):
        path = os.path.join(self.src, "a.bin")
        write_random(path, 5000)
        with Server() as srv:
            s = send(srv, [path])
            code = s.wait_event("code")
            self.assertRegex(code["code"], r"^\d+-[a-z]+-[a-z]+$")
            self.assertTrue(code["link"].startswith(srv.url + "/r#"))
            # The link alone names the server: no --server needed.
            r = Run(["receive", "--yes", "--output", self.out, code["link"]])
            self.assertEqual(r.finish(), 0, r.stderr)
            self.assertEqual(s.finish(), 0)
        self.assertSameFile(path, os.path.join(self.out, "a.bin"))

    def test_text_message(self):
        with Server() as srv:
            s = Run(["send", "--server", srv.url, "--code", "102-bacon-zebra", "--text", "hi there\n\x1b[31mred"])
            self.assertIsNotNone(s.wait_event("code"))
            r = receive(srv, "102-bacon-zebra", self.out)  # text needs no --yes
            self.assertEqual(r.finish(), 0, r.stderr)
            self.assertEqual(s.finish(), 0)
        self.assertEqual(r.event("text")["text"], "hi there\n\x1b[31mred")
        self.assertEqual(os.listdir(self.out), [])

    def test_text_is_printed_with_escapes_for_humans(self):
        with Server() as srv:
            s = Run(["send", "--server", srv.url, "--code", "103-bacon-zebra", "--text", "ok\x1b[2J"])
            self.assertIsNotNone(s.wait_event("code"))
            p = subprocess.run([FERRY, "receive", "--server", srv.url, "103-bacon-zebra"],
                               capture_output=True, timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(s.finish(), 0)
        self.assertIn(b"ok\\x1b[2J", p.stdout)
        self.assertNotIn(b"\x1b", p.stdout)

    def test_stdin(self):
        data = os.urandom(300000)
        with Server() as srv:
            s = Run(["send", "--server", srv.url, "--code", "104-cabin-zebra", "--name", "piped.bin", "-"],
                    stdin=subprocess.PIPE)
            # A pipe is streamed: the sender reads it only once a receiver is there, so the
            # writer must not wait for it to be read before the receiver starts.
            def write():
                s.proc.stdin.write(data)
                s.proc.stdin.close()
            writer = threading.Thread(target=write)
            writer.start()
            self.assertIsNotNone(s.wait_event("code"))
            r = receive(srv, "104-cabin-zebra", self.out, extra=["--yes"])
            self.assertEqual(r.finish(), 0, r.stderr)
            writer.join(30)
            self.assertEqual(s.finish(), 0)
        with open(os.path.join(self.out, "piped.bin"), "rb") as f:
            self.assertEqual(f.read(), data)

    def test_directory_of_1000_files(self):
        root = os.path.join(self.src, "tree")
        for i in range(1000):
            d = os.path.join(root, "d%02d" % (i % 20))
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, "f%04d.txt" % i), "wb") as f:
                f.write(os.urandom(i % 3000))
        os.makedirs(os.path.join(root, "empty"))
        tool = os.path.join(root, "tool.sh")
        with open(tool, "w") as f:
            f.write("#!/bin/sh\necho hi\n")
        os.chmod(tool, 0o755)
        s, r, rc_s, rc_r = self.transfer([root], "105-dancer-zebra")
        self.assertEqual((rc_s, rc_r), (0, 0), (s.stderr, r.stderr))
        self.assertEqual(r.event("offer")["files"], 1001)
        got_root = os.path.join(self.out, "tree")
        for dirpath, dirnames, filenames in os.walk(root):
            rel = os.path.relpath(dirpath, root)
            for name in filenames:
                self.assertSameFile(os.path.join(dirpath, name), os.path.join(got_root, rel, name))
        self.assertTrue(os.path.isdir(os.path.join(got_root, "empty")))
        self.assertTrue(os.stat(os.path.join(got_root, "tool.sh")).st_mode & stat.S_IXUSR)
        self.assertFalse(os.stat(os.path.join(got_root, "d00", "f0000.txt")).st_mode & stat.S_IXUSR)

    def test_modification_times_are_kept(self):
        root = os.path.join(self.src, "album")
        os.makedirs(os.path.join(root, "inner"))
        files = {"inner/a.jpg": 1500000000, "b.jpg": 1600000123}
        for rel, t in files.items():
            write_random(os.path.join(root, rel), 3000)
            os.utime(os.path.join(root, rel), (t, t))
        folders = {"inner": 1400000000, "": 1300000000}  # set after their contents were written
        for rel, t in folders.items():
            os.utime(os.path.join(root, rel), (t, t))
        s, r, rc_s, rc_r = self.transfer([root], "107-eagle-zebra")
        self.assertEqual((rc_s, rc_r), (0, 0), (s.stderr, r.stderr))
        for rel, t in list(files.items()) + list(folders.items()):
            self.assertEqual(int(os.stat(os.path.join(self.out, "album", rel)).st_mtime), t, rel)

    def test_several_paths(self):
        a = os.path.join(self.src, "a.txt")
        b = os.path.join(self.src, "b")
        write_random(a, 10)
        os.makedirs(b)
        write_random(os.path.join(b, "c.bin"), 2000)
        s, r, rc_s, rc_r = self.transfer([a, b], "106-eagle-zebra")
        self.assertEqual((rc_s, rc_r), (0, 0), (s.stderr, r.stderr))
        self.assertSameFile(a, os.path.join(self.out, "a.txt"))
        self.assertSameFile(os.path.join(b, "c.bin"), os.path.join(self.out, "b", "c.bin"))

    def test_relay_path(self):
        path = os.path.join(self.src, "via-relay.bin")
        write_random(path, 3 << 20)
        s, r, rc_s, rc_r = self.transfer([path], "107-falcon-zebra", send_extra=["--force-relay"],
                                         recv_extra=["--yes", "--force-relay"])
        self.assertEqual((rc_s, rc_r), (0, 0), (s.stderr, r.stderr))
        self.assertEqual(r.event("connected")["path"], "relay")
        self.assertEqual(s.event("connected")["path"], "relay")
        self.assertSameFile(path, os.path.join(self.out, "via-relay.bin"))

    def test_one_gib_file(self):
        path = os.path.join(self.src, "big.bin")
        write_random(path, 1 << 30)
        start = time.time()
        s, r, rc_s, rc_r = self.transfer([path], "108-garden-zebra")
        self.assertEqual((rc_s, rc_r), (0, 0), (s.stderr, r.stderr))
        self.assertSameFile(path, os.path.join(self.out, "big.bin"))
        print("1 GiB loopback transfer: %.1f s" % (time.time() - start))

    def test_resume_after_sender_killed(self):
        path = os.path.join(self.src, "resume.bin")
        write_random(path, 400 << 20)
        with Server() as srv:
            s = send(srv, [path], code="109-ginger-zebra")
            self.assertIsNotNone(s.wait_event("code"))
            r = receive(srv, "109-ginger-zebra", self.out, extra=["--yes"])
            ev = r.wait_event("progress")
            while ev is not None and ev["bytes"] < (20 << 20):
                ev = r.wait_event("progress")
            self.assertIsNotNone(ev, "no progress before the sender finished")
            s.kill()
            self.assertEqual(r.finish(), 7, r.stderr)  # peer_gone
            err = r.event("error")
            self.assertEqual(err["code"], "peer_gone")
            self.assertFalse(os.path.exists(os.path.join(self.out, "resume.bin")))
            part = os.path.join(self.out, "resume.bin.ferry-part")
            self.assertTrue(os.path.exists(part))
            kept = os.path.getsize(part)
            self.assertGreater(kept, 0)
            # Send again: the receiver keeps what it has and fetches the rest.
            s2 = send(srv, [path], code="110-ginger-zebra")
            self.assertIsNotNone(s2.wait_event("code"))
            r2 = receive(srv, "110-ginger-zebra", self.out, extra=["--yes"])
            self.assertEqual(r2.finish(), 0, r2.stderr)
            self.assertEqual(s2.finish(), 0)
        self.assertEqual(r2.event("resumed")["bytes"], kept)
        self.assertEqual(r2.event("done")["bytes"], (400 << 20) - kept)
        self.assertSameFile(path, os.path.join(self.out, "resume.bin"))
        self.assertFalse(os.path.exists(part))
