"""`ferry doctor` against real servers: a working one, none, something that is not ferry, a proxy."""
import http.server
import json
import os
import subprocess
import threading
import time

from ferrylib import FERRY, Server, TempDirTest, free_port
from test_proxy import TINYPROXY, Tinyproxy


def doctor(url, env=None, json_out=True):
    full = dict(os.environ)
    for k in ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "FERRY_SERVER"):
        full.pop(k, None)
    full.update(env or {})
    args = [FERRY, "doctor"] + (["--server", url] if url else []) + (["--json"] if json_out else [])
    start = time.time()
    p = subprocess.run(args, capture_output=True, text=True, timeout=30, env=full)
    return p, time.time() - start


class DoctorTest(TempDirTest):
    def test_working_server(self):
        with Server() as srv:
            p, _ = doctor(srv.url)
        self.assertEqual(p.returncode, 0, p.stderr)
        report = json.loads(p.stdout)
        status = {c["name"]: c["status"] for c in report["checks"]}
        self.assertEqual(status["rendezvous"], "ok")
        self.assertEqual(status["relay"], "ok")
        self.assertEqual(status["udp"], "ok")  # STUN against the server's two UDP ports
        self.assertEqual(status["relay-websocket"], "ok")
        self.assertEqual(status["relay-udp"], "ok")
        # Whether TCP gets BBR: root may always choose it where the kernel has it.
        available = open("/proc/sys/net/ipv4/tcp_available_congestion_control").read().split()
        allowed = open("/proc/sys/net/ipv4/tcp_allowed_congestion_control").read().split()
        gets_bbr = "bbr" in allowed or (os.geteuid() == 0 and "bbr" in available)
        self.assertEqual(status["congestion"], "ok" if gets_bbr else "info")
        self.assertTrue(report["usable"])
        self.assertIn("works from here", report["verdict"])

    def test_relay_over_udp_on_its_own_port_or_absent(self):
        with Server(["--no-relay-udp"]) as srv:
            p, _ = doctor(srv.url)
        checks = {c["name"]: c for c in json.loads(p.stdout)["checks"]}
        self.assertEqual(checks["relay-udp"]["status"], "info")
        self.assertIn("runs no relay over UDP", checks["relay-udp"]["detail"])
        port = free_port()
        with Server(["--relay-udp-port", str(port)]) as srv:
            self.assertEqual(srv.relay_udp_port, port)
            p, _ = doctor(srv.url)
        checks = {c["name"]: c for c in json.loads(p.stdout)["checks"]}
        self.assertEqual(checks["relay-udp"]["status"], "ok")
        self.assertIn("127.0.0.1:%d" % port, checks["relay-udp"]["detail"])

    def test_human_output(self):
        with Server() as srv:
            p, _ = doctor(srv.url, json_out=False)
        self.assertEqual(p.returncode, 0)
        self.assertIn("relay", p.stdout)
        self.assertIn("ferry works from here", p.stdout)

    def test_unreachable_server_is_explained_quickly(self):
        p, seconds = doctor("http://127.0.0.1:%d" % free_port())
        self.assertEqual(p.returncode, 5)
        self.assertLess(seconds, 10)
        report = json.loads(p.stdout)
        self.assertFalse(report["usable"])
        self.assertIn("cannot be reached", report["verdict"])

    def test_something_else_on_the_port(self):
        httpd = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
        t = threading.Thread(target=httpd.serve_forever, daemon=True)
        t.start()
        try:
            p, seconds = doctor("http://127.0.0.1:%d" % httpd.server_address[1])
        finally:
            httpd.shutdown()
        self.assertEqual(p.returncode, 5)
        self.assertLess(seconds, 10)
        self.assertIn("not as a ferry server", json.loads(p.stdout)["verdict"])

    def test_no_server_configured(self):
        # What works without a server (the LAN mode, where this computer has a network that
        # carries multicast or broadcast), and how to name one.
        p, _ = doctor(None, env={"XDG_CONFIG_HOME": self.tmp})
        report = json.loads(p.stdout)
        self.assertEqual(report["server"], "")
        [lan] = report["checks"]
        self.assertEqual(lan["name"], "lan")
        self.assertEqual(p.returncode, 0 if lan["status"] == "ok" else 8, p.stderr)
        self.assertEqual(report["usable"], lan["status"] == "ok")
        self.assertIn("--server", report["verdict"])
        self.assertIn("FERRY_SERVER", report["verdict"])
        human, _ = doctor(None, env={"XDG_CONFIG_HOME": self.tmp}, json_out=False)
        self.assertIn("no ferry server is configured", human.stdout)
        self.assertIn("  lan ", human.stdout)

    def test_proxy_problems_are_named(self):
        if not os.path.exists(TINYPROXY):
            self.skipTest("tinyproxy is not installed (scripts/setup.sh installs it)")
        with Server() as srv, Tinyproxy(self.tmp, ("ferry", "pw")) as px:
            ok, _ = doctor(srv.url, env={"https_proxy": "http://ferry:pw@127.0.0.1:%d" % px.port})
            bad, _ = doctor(srv.url, env={"https_proxy": "http://127.0.0.1:%d" % px.port})
        self.assertEqual(ok.returncode, 0, ok.stdout)
        checks = {c["name"]: c for c in json.loads(ok.stdout)["checks"]}
        self.assertIn("through the proxy", checks["proxy"]["detail"])
        self.assertEqual(bad.returncode, 5)
        self.assertIn("wants credentials", json.loads(bad.stdout)["verdict"])
