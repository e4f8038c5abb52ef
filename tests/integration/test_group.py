"""A group send: one code (or link) for several receivers, each on its own session and path.

Real processes on loopback: `ferry serve`, one `ferry send --receivers N` / `--many`, and several
`ferry receive` at once. The code stays one guess: a wrong one ends the group for everyone.
"""
import os
import signal
import time
import unittest

from ferrylib import Server, TempDirTest, receive, send, write_random


class GroupSendTest(TempDirTest):
    def out_dir(self, name):
        path = os.path.join(self.tmp, name)
        os.makedirs(path)
        return path

    def test_three_receivers_at_once_then_the_code_is_used_up(self):
        src = os.path.join(self.src, "photos.bin")
        write_random(src, 24 << 20)
        with Server() as srv:
            s = send(srv, [src], code="41-acorn-zebra", extra=["--receivers", "3"])
            code = s.wait_event("code")
            self.assertIsNotNone(code)
            outs = [self.out_dir("r%d" % i) for i in range(3)]
            # Two by the code, one by the link: all at once.
            runs = [receive(srv, "41-acorn-zebra", outs[0], extra=["--yes"]),
                    receive(srv, "41-acorn-zebra", outs[1], extra=["--yes"]),
                    receive(srv, code["link"], outs[2], extra=["--yes"])]
            for r in runs:
                self.assertEqual(r.finish(), 0, r.stderr.decode(errors="replace"))
            for out in outs:
                self.assertSameFile(src, os.path.join(out, "photos.bin"))
            self.assertEqual(s.finish(timeout=60), 0, s.stderr.decode(errors="replace"))
            # Each receiver's events are its own; all three finished.
            done = sorted(ev["receiver"] for ev in s.events if ev["event"] == "done")
            self.assertEqual(done, [1, 2, 3])
            joined = [ev for ev in s.events if ev["event"] == "peer"]
            self.assertEqual(len(joined), 3)
            # Three were allowed: a fourth finds the code used up.
            late = receive(srv, "41-acorn-zebra", self.out_dir("late"), extra=["--yes", "--wait", "0"])
            self.assertEqual(late.finish(), 6)
            self.assertEqual(late.event("error")["code"], "code_unknown")

    def test_a_wrong_guess_ends_it_for_everyone(self):
        src = os.path.join(self.src, "a.txt")
        with open(src, "w") as f:
            f.write("for the group\n")
        with Server() as srv:
            s = send(srv, [src], code="42-acorn-zebra", extra=["--many"])
            self.assertIsNotNone(s.wait_event("code"))
            first = receive(srv, "42-acorn-zebra", self.out_dir("first"), extra=["--yes"])
            self.assertEqual(first.finish(), 0, first.stderr)
            guess = receive(srv, "42-zebra-acorn", self.out_dir("guess"), extra=["--yes"])
            self.assertEqual(guess.finish(), 3)  # wrong code
            # The sender stops: its code is spent, and it says so.
            rc = s.finish(timeout=30)
            self.assertEqual(rc, 3, s.stderr)
            self.assertIn("did not match", s.event("error")["message"])
            self.assertIn("1 receiver got everything", s.event("error")["message"])
            late = receive(srv, "42-acorn-zebra", self.out_dir("late"), extra=["--yes", "--wait", "0"])
            self.assertEqual(late.finish(), 6)
            self.assertFalse(os.listdir(os.path.join(self.tmp, "late")))

    def test_many_ends_cleanly_at_ctrl_c_and_at_expire(self):
        src = os.path.join(self.src, "a.txt")
        with open(src, "w") as f:
            f.write("hello\n")
        with Server() as srv:
            s = send(srv, [src], extra=["--many"])
            code = s.wait_event("code")["code"]
            for i in range(2):
                r = receive(srv, code, self.out_dir("m%d" % i), extra=["--yes"])
                self.assertEqual(r.finish(), 0, r.stderr)
            # Nothing under way (both confirmed): Ctrl-C is how --many ends, not an interruption.
            self.assertIsNotNone(s.wait_event("done"))
            self.assertIsNotNone(s.wait_event("done"))
            s.proc.send_signal(signal.SIGINT)
            self.assertEqual(s.finish(timeout=15), 0, s.stderr)
            notes = [ev["text"] for ev in s.events if ev["event"] == "note"]
            self.assertTrue(any("No longer taking receivers; 2 receivers joined" in n
                                for n in notes), notes)
            late = receive(srv, code, self.out_dir("after-ctrl-c"), extra=["--yes", "--wait", "0"])
            self.assertEqual(late.finish(), 6)

            started = time.monotonic()
            s = send(srv, [src], extra=["--many", "--expire", "2s"])
            code = s.wait_event("code")["code"]
            r = receive(srv, code, self.out_dir("before-expiry"), extra=["--yes"])
            self.assertEqual(r.finish(), 0, r.stderr)
            self.assertEqual(s.finish(timeout=15), 0, s.stderr)
            self.assertLess(time.monotonic() - started, 10)
            late = receive(srv, code, self.out_dir("after-expiry"), extra=["--yes", "--wait", "0"])
            self.assertEqual(late.finish(), 6)

    def test_ten_receivers_of_one_link(self):
        src = os.path.join(self.src, "big.bin")
        write_random(src, 8 << 20)
        with Server() as srv:
            s = send(srv, [src], extra=["--receivers", "10"])
            link = s.wait_event("code")["link"]
            outs = [self.out_dir("t%d" % i) for i in range(10)]
            runs = [receive(srv, link, out, extra=["--yes"]) for out in outs]
            for r in runs:
                self.assertEqual(r.finish(), 0, r.stderr.decode(errors="replace"))
            for out in outs:
                self.assertSameFile(src, os.path.join(out, "big.bin"))
            self.assertEqual(s.finish(timeout=60), 0, s.stderr)
            self.assertEqual(len([ev for ev in s.events if ev["event"] == "done"]), 10)

    def test_a_receiver_that_declines_is_told_in_the_result(self):
        src = os.path.join(self.src, "a.txt")
        with open(src, "w") as f:
            f.write("hello\n")
        with Server() as srv:
            s = send(srv, [src], extra=["--receivers", "2"])
            code = s.wait_event("code")["code"]
            ok = receive(srv, code, self.out_dir("yes"), extra=["--yes"])
            self.assertEqual(ok.finish(), 0, ok.stderr)
            no = receive(srv, code, self.out_dir("no"), input_text="n\n")
            self.assertNotEqual(no.finish(), 0)
            rc = s.finish(timeout=30)
            self.assertNotEqual(rc, 0)
            self.assertIn("receiver 2", s.event("error")["message"])
            self.assertIn("1 of 2 receivers got everything", s.event("error")["message"])

    def test_flags_that_do_not_go_together(self):
        with Server() as srv:
            for extra in (["--receivers", "0"], ["--many", "--receivers", "3"],
                          ["--expire", "5m"], ["--many", "--expire", "soon"],
                          ["--many", "--lan"]):
                r = send(srv, [os.path.join(self.src)], extra=extra)
                self.assertEqual(r.finish(timeout=10), 2, extra)


if __name__ == "__main__":
    unittest.main()
