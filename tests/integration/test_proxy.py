"""The server through a real HTTP CONNECT proxy (Debian's tinyproxy on loopback): https_proxy with
and without Basic credentials, wrong credentials, no_proxy."""
import os
import shutil
import signal
import subprocess
import time
import unittest

from ferrylib import Run, Server, TempDirTest, free_port, write_random

TINYPROXY = shutil.which("tinyproxy") or "/usr/bin/tinyproxy"


class Tinyproxy:
    def __init__(self, tmp, auth):
        self.port = free_port()
        self.conf = os.path.join(tmp, "tinyproxy-%d.conf" % self.port)
        log = os.path.join(tmp, "tinyproxy-%d.log" % self.port)
        open(log, "w").close()
        os.chmod(log, 0o666)
        os.chmod(tmp, 0o755)
        with open(self.conf, "w") as f:
            f.write("Port %d\nListen 127.0.0.1\nTimeout 60\nLogLevel Info\nLogFile \"%s\"\n"
                    "MaxClients 20\nAllow 127.0.0.1\n" % (self.port, log))
            if os.geteuid() == 0:
                f.write("User nobody\nGroup nogroup\n")
            if auth:
                f.write("BasicAuth %s %s\n" % auth)

    def __enter__(self):
        self.proc = subprocess.Popen([TINYPROXY, "-d", "-c", self.conf], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        for _ in range(50):
            try:
                import socket
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("tinyproxy did not start")

    def __exit__(self, *exc):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(5)


@unittest.skipUnless(os.path.exists(TINYPROXY) or os.environ.get("CI") == "true",
                     "tinyproxy is not installed (scripts/setup.sh installs it)")
class ProxyTest(TempDirTest):
    def send_through(self, srv, proxy_url, code, extra_env=None):
        env = {"https_proxy": proxy_url}
        env.update(extra_env or {})
        path = os.path.join(self.src, "f.bin")
        write_random(path, 200000)
        s = Run(["send", "--server", srv.url, "--code", code, path], env=env)
        return s, path

    def test_transfer_with_credentials(self):
        with Server() as srv, Tinyproxy(self.tmp, ("ferry", "pw")) as px:
            url = "http://ferry:pw@127.0.0.1:%d" % px.port
            s, path = self.send_through(srv, url, "401-acorn-zebra")
            self.assertIsNotNone(s.wait_event("code"), s.proc.stderr.read() if s.proc.poll() is not None else "")
            r = Run(["receive", "--server", srv.url, "--yes", "--output", self.out, "--force-relay",
                     "401-acorn-zebra"], env={"https_proxy": url})
            self.assertEqual(r.finish(), 0, r.stderr)
            self.assertEqual(s.finish(), 0)
            self.assertSameFile(path, os.path.join(self.out, "f.bin"))
            self.assertEqual(r.event("connected")["path"], "relay")

    def test_missing_and_wrong_credentials_are_explained(self):
        with Server() as srv, Tinyproxy(self.tmp, ("ferry", "pw")) as px:
            for url, words in (("http://127.0.0.1:%d" % px.port, "wants credentials"),
                               ("http://ferry:nope@127.0.0.1:%d" % px.port, "did not accept the credentials")):
                start = time.time()
                s, _ = self.send_through(srv, url, "402-acorn-zebra")
                self.assertEqual(s.finish(), 5)
                self.assertLess(time.time() - start, 10)
                err = s.event("error")
                self.assertEqual(err["code"], "server_unreachable")
                self.assertIn(words, err["message"])
                self.assertNotIn("nope", err["message"])  # the password is never printed

    def test_unreachable_proxy_and_bad_setting(self):
        with Server() as srv:
            s, _ = self.send_through(srv, "http://127.0.0.1:%d" % free_port(), "403-acorn-zebra")
            self.assertEqual(s.finish(), 5)
            self.assertIn("proxy", s.event("error")["message"])
            s, _ = self.send_through(srv, "socks5://127.0.0.1:1080", "404-acorn-zebra")
            self.assertEqual(s.finish(), 2)

    def test_no_proxy_bypasses_it(self):
        with Server() as srv:
            # The proxy does not even exist: no_proxy must keep ferry away from it.
            s, path = self.send_through(srv, "http://127.0.0.1:%d" % free_port(), "405-acorn-zebra",
                                        {"no_proxy": "localhost,127.0.0.1"})
            self.assertIsNotNone(s.wait_event("code"))
            r = Run(["receive", "--server", srv.url, "--yes", "--output", self.out, "405-acorn-zebra"])
            self.assertEqual(r.finish(), 0, r.stderr)
            self.assertEqual(s.finish(), 0)


if __name__ == "__main__":
    unittest.main()
