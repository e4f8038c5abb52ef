"""ferry serve's STUN responder and ferry doctor's STUN client against real peers: Debian's
classic `stun` client (RFC 3489) against ferry, ferry against coturn, and bad datagrams."""
import json
import os
import socket
import struct
import subprocess
import time
import unittest

from ferrylib import FERRY, Server, free_port


def doctor(server, *extra):
    p = subprocess.run([FERRY, "doctor", "--json", "--server", server.url] + list(extra),
                       capture_output=True, text=True, timeout=30)
    return json.loads(p.stdout)


def udp_check(report):
    return next(c for c in report["checks"] if c["name"] == "udp")


class StunTest(unittest.TestCase):
    def test_debian_stun_client_against_ferry(self):
        # The classic client only speaks to port 3478.
        with Server(["--stun-port", "3478", "--stun-alt-port", "3479"]) as srv:
            p = subprocess.run(["stun", "127.0.0.1", "1", "-v"], capture_output=True, text=True,
                               timeout=30)
            said = p.stdout + p.stderr
            self.assertIn("MappedAddress = 127.0.0.1:", said)
            self.assertIn("ChangedAddress = 127.0.0.1:3479", said)
            self.assertEqual(p.returncode, 0, said)
            # And ferry's own doctor reads the same server.
            report = doctor(srv)
            self.assertEqual(udp_check(report)["status"], "ok")
            self.assertFalse(report["nat"]["udp_blocked"])
            self.assertFalse(report["nat"]["behind_nat"])
            self.assertEqual(report["nat"]["filtering"], "endpoint-independent")

    def test_ferry_doctor_against_coturn(self):
        port = free_port()
        coturn = subprocess.Popen(["turnserver", "-n", "--stun-only", "--no-cli", "--no-tls",
                                   "--no-dtls", "-L", "127.0.0.1", "-p", str(port),
                                   "--log-file", "stdout", "--userdb", os.devnull],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(1.0)
            with Server(["--no-stun"]) as srv:
                report = doctor(srv)  # without --stun: nothing to measure against
                self.assertEqual(udp_check(report)["status"], "untested")
                self.assertIn("no STUN responder", udp_check(report)["detail"])
                report = doctor(srv, "--stun", "127.0.0.1:%d" % port)
                self.assertEqual(udp_check(report)["status"], "ok", report)
                self.assertTrue(report["nat"]["public"].startswith("127.0.0.1:"))
                # coturn with one address cannot send from elsewhere: filtering stays unknown.
                self.assertEqual(report["nat"]["filtering"], "unknown")
        finally:
            coturn.terminate()
            coturn.wait()

    def test_responder_ignores_garbage_and_refuses_unknown_attributes(self):
        with Server() as srv:
            port = srv.stun_ports[0]
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(1)
            for junk in (b"", b"\xff" * 40, b"GET / HTTP/1.1\r\n\r\n", os.urandom(600)):
                s.sendto(junk, ("127.0.0.1", port))
                with self.assertRaises(socket.timeout):
                    s.recvfrom(2048)
            # A Binding request with an unknown comprehension-required attribute: 420.
            txid = os.urandom(12)
            req = struct.pack("!HHI", 1, 8, 0x2112A442) + txid + struct.pack("!HHI", 0x7FFF, 4, 0)
            s.sendto(req, ("127.0.0.1", port))
            data, _ = s.recvfrom(2048)
            self.assertEqual(struct.unpack("!H", data[:2])[0], 0x0111)
            self.assertEqual(data[8:20], txid)
            self.assertIn(bytes([4, 20]), data)  # ERROR-CODE class 4, number 20
            s.close()
            self.assertEqual(udp_check(doctor(srv))["status"], "ok")  # still serving


if __name__ == "__main__":
    unittest.main()
