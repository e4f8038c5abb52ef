"""The server through a real HTTP CONNECT proxy (Debian's tinyproxy on loopback): https_proxy with
and without Basic credentials, wrong credentials, no_proxy."""
import os
import re
import shutil
import signal
import subprocess
import time
import unittest

from ferrylib import FERRY, Run, Server, TempDirTest, free_port, write_random

TINYPROXY = shutil.which("tinyproxy") or "/usr/bin/tinyproxy"
MICROSOCKS = shutil.which("microsocks") or "/usr/bin/microsocks"
# microsocks dials out from this address, so the server's log shows who came through the proxy.
PROXY_SOURCE = "127.0.0.9"


def wait_listening(port, what):
    """Until something accepts on 127.0.0.1:port (5 s at most)."""
    import socket
    for _ in range(50):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(what + " did not start")


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
        wait_listening(self.port, "tinyproxy")
        return self

    def __exit__(self, *exc):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(5)


class Microsocks:
    """Debian's microsocks, a SOCKS5 server (TCP CONNECT; username and password when given)."""

    def __init__(self, auth=None):
        self.port = free_port()
        self.args = [MICROSOCKS, "-i", "127.0.0.1", "-p", str(self.port), "-b", PROXY_SOURCE]
        if auth:
            self.args += ["-u", auth[0], "-P", auth[1]]

    def __enter__(self):
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_listening(self.port, "microsocks")
        return self

    def __exit__(self, *exc):
        self.proc.kill()
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

    def test_unreachable_proxy_and_a_setting_ferry_cannot_use(self):
        with Server() as srv:
            for scheme in ("http", "socks5h"):
                s, _ = self.send_through(srv, "%s://127.0.0.1:%d" % (scheme, free_port()),
                                         "403-acorn-zebra")
                self.assertEqual(s.finish(), 5)
                self.assertIn("proxy", s.event("error")["message"])
            # A setting ferry does not understand is no reason not to try: it goes direct (once
            # ferry refused to start), and says so when the direct attempt fails too.
            s, _ = self.send_through(srv, "socks4://127.0.0.1:1080", "404-acorn-zebra")
            self.assertIsNotNone(s.wait_event("code"), s.stderr if s.proc.poll() is not None else "")
            s.kill()
        s = Run(["send", "--server", "http://127.0.0.1:%d" % free_port(), "--text", "hi"],
                env={"https_proxy": "socks4://127.0.0.1:1080"})
        self.assertEqual(s.finish(), 5)
        message = s.event("error")["message"]
        self.assertIn("socks4", message)
        self.assertIn("tried without it", message)

    def test_no_proxy_bypasses_it(self):
        with Server() as srv:
            # The proxy does not even exist: no_proxy must keep ferry away from it.
            s, path = self.send_through(srv, "http://127.0.0.1:%d" % free_port(), "405-acorn-zebra",
                                        {"no_proxy": "localhost,127.0.0.1"})
            self.assertIsNotNone(s.wait_event("code"))
            r = Run(["receive", "--server", srv.url, "--yes", "--output", self.out, "405-acorn-zebra"])
            self.assertEqual(r.finish(), 0, r.stderr)
            self.assertEqual(s.finish(), 0)


class UpgradeStripper:
    """A reverse proxy in front of a server that does what squid does by default: it removes
    Upgrade (and Connection) from requests and adds its Via header to responses."""

    VIA = "1.1 office-proxy (stripper/1.0)"

    def __init__(self, server_port):
        import socket
        import threading
        self.server_port = server_port
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        import socket
        import threading
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(client, socket), daemon=True).start()

    @staticmethod
    def _head(conn):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                return None, b""
            data += chunk
        head, rest = data.split(b"\r\n\r\n", 1)
        return head.split(b"\r\n"), rest

    def _one(self, client, socket):
        import threading
        with client:
            lines, rest = self._head(client)
            if lines is None:
                return
            kept = [l for l in lines if not l.lower().startswith((b"upgrade:", b"connection:"))]
            with socket.create_connection(("127.0.0.1", self.server_port)) as up:
                up.sendall(b"\r\n".join(kept) + b"\r\nConnection: close\r\n\r\n" + rest)
                threading.Thread(target=self._copy, args=(client, up), daemon=True).start()
                lines, rest = self._head(up)
                if lines is None:
                    return
                lines.insert(1, b"Via: " + self.VIA.encode())
                client.sendall(b"\r\n".join(lines) + b"\r\n\r\n" + rest)
                while True:
                    chunk = up.recv(65536)
                    if not chunk:
                        return
                    client.sendall(chunk)

    @staticmethod
    def _copy(src, dst):
        """The rest of a request's body."""
        try:
            while True:
                chunk = src.recv(65536)
                if not chunk:
                    return
                dst.sendall(chunk)
        except OSError:
            return

    def close(self):
        self.sock.close()


class UpgradeStrippedTest(TempDirTest):
    def test_a_proxy_that_removes_the_upgrade_is_named_and_gone_around(self):
        """Once: "answered, but not as a ferry server (The WebSocket handshake was declined by the
        remote peer)". Now the server answers the plain GET with 426 and a sentence, the client
        names the proxy from its Via header, and carries the rendezvous and the relay over HTTPS
        requests (proto/http_tunnel.hpp) through the same proxy."""
        import urllib.error
        import urllib.request
        # This proxy opens a connection to the server for every request (squid does so for
        # every request with a body): more than the default 20 a second from its one address.
        with Server(["--connects-per-second-per-address", "500"]) as srv:
            with self.assertRaises(urllib.error.HTTPError) as got:
                urllib.request.urlopen("http://127.0.0.1:%d/v1/rendezvous" % srv.port, timeout=5)
            self.assertEqual(got.exception.code, 426)
            self.assertIn(b"without its Upgrade header", got.exception.read())
            proxy = UpgradeStripper(srv.port)
            try:
                url = "http://127.0.0.1:%d" % proxy.port
                path = os.path.join(self.src, "f.bin")
                write_random(path, 1_000_000)
                env = {"FERRY_NO_RELAY_UDP": "1"}
                s = Run(["send", "--server", url, "--code", "402-acorn-zebra", "--force-relay", path],
                        env=env)
                self.assertIsNotNone(s.wait_event("code"))
                r = Run(["receive", "--server", url, "--yes", "--output", self.out, "--force-relay",
                         "402-acorn-zebra"], env=env)
                self.assertEqual(r.finish(), 0, r.stderr)
                self.assertEqual(s.finish(), 0)
                self.assertSameFile(path, os.path.join(self.out, "f.bin"))
                note = r.event("note")["text"]
                self.assertIn(UpgradeStripper.VIA, note)
                self.assertIn("carried on over HTTPS requests", note)
                connected = r.event("connected")
                self.assertEqual(connected["path"], "relay")
                self.assertEqual(connected["carrier"], "HTTPS requests")
                self.assertEqual(s.event("connected")["carrier"], "HTTPS requests")
            finally:
                proxy.close()


@unittest.skipUnless(os.path.exists(MICROSOCKS) or os.environ.get("CI") == "true",
                     "microsocks is not installed (scripts/setup.sh installs it)")
class SocksTest(TempDirTest):
    """all_proxy=socks5h://… (the proxy resolves names) and socks5://… (ferry does), as curl
    reads them, through a real SOCKS5 server that is the only way the server sees the clients
    come from 127.0.0.9."""

    def test_a_transfer_through_socks5_with_a_password(self):
        with Server() as srv, Microsocks(("ferry", "pw")) as px:
            for scheme in ("socks5h", "socks5"):
                url = "%s://ferry:pw@127.0.0.1:%d" % (scheme, px.port)
                # socks5h:// sends the name for the proxy to resolve; socks5:// resolves it here.
                server = srv.url.replace("127.0.0.1", "localhost")
                path = os.path.join(self.src, "f.bin")
                write_random(path, 300000)
                # (A SOCKS-only network: no UDP; UDP ASSOCIATE is not used yet.)
                env = {"all_proxy": url, "FERRY_NO_UDP": "1", "FERRY_NO_RELAY_UDP": "1"}
                s = Run(["send", "--server", server, path], env=env)
                code = s.wait_event("code")
                self.assertIsNotNone(code, s.stderr if s.proc.poll() is not None else "")
                r = Run(["receive", "--server", server, "--yes", "--overwrite", "--force-relay",
                         "--output", self.out, code["code"]], env=env)
                self.assertEqual(r.finish(), 0, r.stderr)
                self.assertEqual(s.finish(), 0, s.stderr)
                self.assertSameFile(path, os.path.join(self.out, "f.bin"))
                self.assertEqual(r.event("connected")["path"], "relay")
            # Both sides' rendezvous and relay connections came through the proxy.
            log = srv.log()
            self.assertRegex(log, r"relay_start .*client_a=127\.0\.0\.9\b.*client_b=127\.0\.0\.9\b")
            self.assertIn("client=" + PROXY_SOURCE, log)
            self.assertIsNone(re.search(r"client(_[ab])?=127\.0\.0\.1\b", log), log)

    def test_missing_and_wrong_credentials_are_explained(self):
        with Server() as srv, Microsocks(("ferry", "pw")) as px:
            for url, words in (("socks5h://127.0.0.1:%d" % px.port, "wants a username and password"),
                               ("socks5h://ferry:nope@127.0.0.1:%d" % px.port,
                                "did not accept the username and password")):
                s = Run(["send", "--server", srv.url, "--text", "hi"], env={"all_proxy": url})
                self.assertEqual(s.finish(), 5)
                err = s.event("error")
                self.assertEqual(err["code"], "server_unreachable")
                self.assertIn(words, err["message"])
                self.assertNotIn("nope", err["message"])  # the password is never printed

    def test_doctor_names_the_socks_proxy(self):
        with Server() as srv, Microsocks() as px:
            p = subprocess.run([FERRY, "doctor", "--json", "--server", srv.url], capture_output=True,
                               timeout=60, env=dict(os.environ, all_proxy="socks5h://127.0.0.1:%d" % px.port))
            self.assertIn(b"socks5h://127.0.0.1:%d" % px.port, p.stdout)


if __name__ == "__main__":
    unittest.main()
