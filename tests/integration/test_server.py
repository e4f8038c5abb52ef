"""The server under bad input: it closes the offending connection with a reason and keeps serving."""
import os
import socket
import urllib.request

from ferrylib import Server, TempDirTest, receive, send, write_random
from wsclient import WebSocket


class ServerTest(TempDirTest):
    def expect_kicked(self, ws, code):
        msg = ws.recv_json()
        if msg["type"] == "welcome":
            msg = ws.recv_json()
        self.assertEqual(msg["type"], "error")
        self.assertEqual(msg["code"], code)
        self.assertTrue(msg["message"])
        op, payload = ws.recv()
        self.assertEqual(op, 8)  # close frame, with a reason after the 2-byte status
        self.assertGreater(len(payload), 2)

    def assert_still_serving(self, srv, code):
        path = os.path.join(self.src, "after.bin")
        write_random(path, 50000)
        s = send(srv, [path], code=code)
        self.assertIsNotNone(s.wait_event("code"))
        r = receive(srv, code, self.out, extra=["--yes", "--overwrite"])
        self.assertEqual(r.finish(), 0, r.stderr)
        self.assertEqual(s.finish(), 0)

    def test_garbage_oversized_and_out_of_order_messages(self):
        with Server() as srv:
            cases = [
                (lambda ws: ws.send_text("this is not json"), "malformed"),
                (lambda ws: ws.send_json({"type": "teleport"}), "malformed"),
                (lambda ws: ws.send_json({"type": "claim", "nameplate": "../../etc"}), "malformed"),
                (lambda ws: ws.send_json({"type": "message", "body": "aGVsbG8="}), "out_of_order"),
                (lambda ws: ws.send_frame(0x2, b"\x00\x01binary"), "malformed"),
            ]
            for act, code in cases:
                ws = WebSocket(srv.port)
                self.assertEqual(ws.status, 101)
                self.assertEqual(ws.recv_json()["type"], "welcome")
                act(ws)
                self.expect_kicked(ws, code)
                ws.close()
            # Invalid UTF-8 in a text frame: WebSocket's own protocol error, close status 1007.
            ws = WebSocket(srv.port)
            ws.recv_json()
            ws.send_text(b"\xff\xfe\x00garbage")
            op, payload = ws.recv()
            self.assertEqual((op, payload[:2]), (8, b"\x03\xef"))
            ws.close()
            # Oversized: the server refuses the frame and closes.
            ws = WebSocket(srv.port)
            ws.recv_json()
            try:
                ws.send_text("x" * (200 * 1024))
                op, _ = ws.recv()
                while op == 1:
                    op, _ = ws.recv()
                self.assertEqual(op, 8)
            except (ConnectionError, OSError):
                pass  # closed outright: also a refusal
            ws.close()
            self.assert_still_serving(srv, "301-acorn-zebra")

    def test_a_bad_client_does_not_disturb_a_waiting_sender(self):
        with Server() as srv:
            path = os.path.join(self.src, "f.bin")
            write_random(path, 1000)
            s = send(srv, [path], code="302-acorn-zebra")
            self.assertIsNotNone(s.wait_event("code"))
            bad = WebSocket(srv.port)
            bad.recv_json()
            bad.send_text("{{{{")
            self.expect_kicked(bad, "malformed")
            r = receive(srv, "302-acorn-zebra", self.out, extra=["--yes"])
            self.assertEqual(r.finish(), 0, r.stderr)
            self.assertEqual(s.finish(), 0)

    def test_garbage_is_closed_and_the_server_keeps_serving(self):
        # (Relay hellos with bad grants: test_relay.py.)
        with Server() as srv:
            # Plain garbage is neither relay nor HTTP: the server closes it.
            c = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
            c.sendall(b"\x00\x01\x02\x03garbage\r\n\r\n")
            try:
                self.assertEqual(c.recv(100), b"")
            except ConnectionResetError:
                pass  # closed with our bytes unread: a reset is a close too
            c.close()
            self.assert_still_serving(srv, "303-acorn-zebra")

    def test_preview_fetch_of_a_link_does_not_consume_it(self):
        with Server() as srv:
            path = os.path.join(self.src, "f.bin")
            write_random(path, 1000)
            s = send(srv, [path])
            code = s.wait_event("code")
            # What a chat app's link preview does: a plain GET of the URL (the fragment stays local).
            page = urllib.request.urlopen(code["link"].split("#")[0], timeout=5)
            self.assertEqual(page.status, 200)
            self.assertIn("default-src 'self'", page.headers["Content-Security-Policy"])
            r = receive(srv, code["code"], self.out, extra=["--yes"])
            self.assertEqual(r.finish(), 0, r.stderr)
            self.assertEqual(s.finish(), 0)

    def test_health_endpoint(self):
        with Server() as srv:
            self.assertEqual(urllib.request.urlopen(srv.url + "/healthz", timeout=5).read(), b"ok\n")


class ClaimLimitTest(TempDirTest):
    def test_one_address_cannot_burn_every_code(self):
        with Server() as srv:
            # The server's default: 30 claims a minute per address; the 31st is refused.
            for i in range(30):
                ws = WebSocket(srv.port)
                ws.recv_json()
                ws.send_json({"type": "claim", "nameplate": str(900 + i)})
                msg = ws.recv_json()
                self.assertEqual(msg["code"], "code_unknown")
                ws.close()
            ws = WebSocket(srv.port)
            ws.recv_json()
            ws.send_json({"type": "claim", "nameplate": "999"})
            self.expect_kicked_with(ws, "limit")
            ws.close()

    def expect_kicked_with(self, ws, code):
        msg = ws.recv_json()
        self.assertEqual(msg["type"], "error")
        self.assertEqual(msg["code"], code)
        self.assertIn("wait a minute", msg["message"])
