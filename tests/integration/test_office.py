"""The office proxy that reads everything: Debian's squid-openssl 5.7 intercepting TLS
(`ssl_bump bump all`, otherwise its defaults: it removes WebSocket upgrades), the company's CA
trusted by the clients (SSL_CERT_FILE), the ferry server on TLS. The clients reach the server
only through the proxy (https_proxy); the rendezvous and the relay ride HTTPS requests
(proto/http_tunnel.hpp), end to end encrypted as ever."""
import os
import shutil
import signal
import subprocess
import time
import unittest

from ferrylib import FERRY, Run, Server, TempDirTest, free_port, write_random
from test_proxy import wait_listening

SQUID = shutil.which("squid") or "/usr/sbin/squid"
CERTGEN = "/usr/lib/squid/security_file_certgen"


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


class Squid:
    """squid -N with a configuration of its own in tmp (as root it runs as the proxy user)."""

    def __init__(self, tmp, server_cert, extra=""):
        self.dir = os.path.join(tmp, "squid")
        os.makedirs(self.dir)
        os.chmod(tmp, 0o755)
        os.chmod(self.dir, 0o755)
        self.ca = os.path.join(self.dir, "company-ca.pem")
        ca_key = os.path.join(self.dir, "company-ca.key")
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                "/CN=Example Corp Inspection CA/O=Example Corp", "-keyout", ca_key, "-out", self.ca)
        db = os.path.join(self.dir, "ssl_db")
        subprocess.run([CERTGEN, "-c", "-s", db, "-M", "4MB"], check=True, capture_output=True)
        self.port = free_port()
        self.conf = os.path.join(self.dir, "squid.conf")
        with open(self.conf, "w") as f:
            f.write(
                "http_port 127.0.0.1:%d ssl-bump tls-cert=%s tls-key=%s "
                "generate-host-certificates=on dynamic_cert_mem_cache_size=4MB\n"
                "sslcrtd_program %s -s %s -M 4MB\n"
                "sslcrtd_children 3 startup=1 idle=1\n"
                "ssl_bump bump all\n"
                # Only the lab's server: nothing else is looked up or connected to.
                "acl lab dstdomain -n localhost 127.0.0.1\n"
                "http_access allow lab\nhttp_access deny all\n"
                # The company's proxy trusts the server's certificate (a public CA's, in life).
                "tls_outgoing_options cafile=%s\n"
                "cache deny all\n"
                "pid_filename %s/squid.pid\ncache_log %s/cache.log\naccess_log %s/access.log\n"
                "coredump_dir %s\nnetdb_filename none\nshutdown_lifetime 1 seconds\n%s"
                % (self.port, self.ca, ca_key, CERTGEN, db, server_cert, self.dir, self.dir,
                   self.dir, self.dir, extra))
            if os.geteuid() == 0:
                f.write("cache_effective_user proxy\n")
        if os.geteuid() == 0:
            subprocess.run(["chown", "-R", "proxy:proxy", self.dir], check=True)

    def __enter__(self):
        self.proc = subprocess.Popen([SQUID, "-N", "-f", self.conf], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        try:
            wait_listening(self.port, "squid")
        except RuntimeError:
            self.__exit__()
            raise
        return self

    def access_log(self):
        try:
            with open(os.path.join(self.dir, "access.log")) as f:
                return f.read()
        except OSError:
            return ""

    def __exit__(self, *exc):
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@unittest.skipUnless(os.path.exists(SQUID) and os.path.exists(CERTGEN) or
                     os.environ.get("CI") == "true",
                     "squid-openssl is not installed (scripts/setup.sh installs it)")
class OfficeBumpTest(TempDirTest):
    def server_cert(self):
        cert = os.path.join(self.tmp, "server.pem")
        key = os.path.join(self.tmp, "server.key")
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                "-nodes", "-days", "1", "-subj", "/CN=localhost", "-addext",
                "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", key, "-out", cert)
        os.chmod(cert, 0o644)
        return cert, key

    def test_relayed_transfer_through_an_intercepting_proxy(self):
        cert, key = self.server_cert()
        with Server(["--tls-cert", cert, "--tls-key", key]) as srv, \
                Squid(self.tmp, cert) as squid:
            server = "https://localhost:%d" % srv.port
            env = {"https_proxy": "http://127.0.0.1:%d" % squid.port, "SSL_CERT_FILE": squid.ca,
                   "FERRY_NO_RELAY_UDP": "1", "FERRY_NO_UDP": "1"}
            path = os.path.join(self.src, "f.bin")
            write_random(path, 5_000_000)
            s = Run(["send", "--server", server, "--force-relay", path], env=env)
            code = s.wait_event("code")
            self.assertIsNotNone(code, s.stderr if s.proc.poll() is not None else "")
            r = Run(["receive", "--server", server, "--yes", "--force-relay", "--output", self.out,
                     code["code"]], env=env)
            self.assertEqual(r.finish(), 0, r.stderr)
            self.assertEqual(s.finish(), 0, s.stderr)
            self.assertSameFile(path, os.path.join(self.out, "f.bin"))
            note = r.event("note")["text"]
            self.assertIn("squid/5.7", note)
            self.assertIn("carried on over HTTPS requests", note)
            for run in (s, r):
                self.assertEqual(run.event("connected")["path"], "relay")
                self.assertEqual(run.event("connected")["carrier"], "HTTPS requests")
            # Squid saw the requests (it decrypted them): the tunnel's, never a WebSocket.
            log = squid.access_log()
            self.assertIn("/v1/tunnel/", log)
            self.assertNotIn("TCP_MISS/101", log)

    def test_doctor_says_what_the_proxy_does_and_what_carries_ferry(self):
        import json
        cert, key = self.server_cert()
        with Server(["--tls-cert", cert, "--tls-key", key]) as srv, \
                Squid(self.tmp, cert) as squid:
            env = dict(os.environ, https_proxy="http://127.0.0.1:%d" % squid.port,
                       SSL_CERT_FILE=squid.ca)
            p = subprocess.run([FERRY, "doctor", "--json", "--server",
                                "https://localhost:%d" % srv.port], capture_output=True,
                               timeout=90, env=env)
            checks = {c["name"]: c for c in json.loads(p.stdout)["checks"]}
            self.assertEqual(checks["rendezvous"]["status"], "ok", checks)
            self.assertIn("squid/5.7", checks["rendezvous"]["detail"])
            self.assertIn("carried on over HTTPS requests", checks["rendezvous"]["detail"])
            self.assertEqual(checks["relay-websocket"]["status"], "ok", checks)
            self.assertIn("over HTTPS requests", checks["relay-websocket"]["detail"])

    def test_without_the_company_ca_the_error_names_its_issuer_and_the_proxy(self):
        cert, key = self.server_cert()
        with Server(["--tls-cert", cert, "--tls-key", key]) as srv, \
                Squid(self.tmp, cert) as squid:
            proxy = "http://127.0.0.1:%d" % squid.port
            env = {"https_proxy": proxy,
                   "SSL_CERT_FILE": cert}  # the server's own certificate: not what squid shows
            server = "https://localhost:%d" % srv.port
            s = Run(["send", "--server", server, "--text", "hi"], env=env)
            self.assertNotEqual(s.finish(), 0)
            message = s.event("error")["message"]
            self.assertIn("Example Corp Inspection CA", message)
            self.assertIn("through the proxy " + proxy, message)
            self.assertIn("--ca-file", message)
            # The company's CA given with --ca-file: the server is reached.
            p = subprocess.run([FERRY, "doctor", "--json", "--server", server, "--ca-file",
                                squid.ca], capture_output=True, timeout=90,
                               env=dict(os.environ, **env))
            import json
            checks = {c["name"]: c for c in json.loads(p.stdout)["checks"]}
            self.assertEqual(checks["rendezvous"]["status"], "ok", checks)
            p = subprocess.run([FERRY, "doctor", "--json", "--server", server, "--ca-file",
                                os.path.join(self.tmp, "missing.pem")], capture_output=True,
                               timeout=90, env=dict(os.environ, **env))
            self.assertIn(b"missing.pem cannot be used", p.stdout + p.stderr)


class TunnelLimitsTest(TempDirTest):
    """What the server keeps for WebSockets holds for the HTTPS-request tunnel: Origin, the
    connections an address may hold, tokens that name one tunnel, no tunnel inside a tunnel."""

    @staticmethod
    def request(srv, method, target, body=None, headers=None):
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        try:
            c.request(method, target, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def test_another_sites_page_cannot_open_one(self):
        with Server() as srv:
            status, body = self.request(srv, "POST", "/v1/tunnel",
                                        headers={"Origin": "https://evil.example"})
            self.assertEqual(status, 403, body)
            status, token = self.request(srv, "POST", "/v1/tunnel",
                                         headers={"Origin": srv.url})
            self.assertEqual(status, 200, token)
            self.assertRegex(token.decode(), "^[0-9a-f]{32}$")

    def test_tokens_name_one_tunnel_and_requests_are_checked(self):
        with Server() as srv:
            status, token = self.request(srv, "POST", "/v1/tunnel")
            self.assertEqual(status, 200)
            token = token.decode()
            other = ("0" if token[0] != "0" else "1") + token[1:]
            self.assertEqual(self.request(srv, "GET", "/v1/tunnel/%s/down/0" % other)[0], 404)
            for bad in ("/v1/tunnel/%s/down/01" % token, "/v1/tunnel/%s/sideways/0" % token,
                        "/v1/tunnel/%s/down/0?fin" % token, "/v1/tunnel/XYZ/down/0"):
                self.assertEqual(self.request(srv, "GET", bad)[0], 400, bad)
            # An upload past what arrived, and a download of bytes never sent.
            self.assertEqual(self.request(srv, "POST", "/v1/tunnel/%s/up/5" % token, b"x")[0], 416)
            self.assertEqual(self.request(srv, "GET", "/v1/tunnel/%s/down/7" % token)[0], 416)
            # Inside: a tunnel asked for again is refused.
            inner = b"POST /v1/tunnel HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
            self.assertEqual(self.request(srv, "POST", "/v1/tunnel/%s/up/0" % token, inner)[0], 204)
            status, answer = self.request(srv, "GET", "/v1/tunnel/%s/down/0" % token)
            self.assertEqual(status, 200)
            self.assertTrue(answer.startswith(b"HTTP/1.1 400"), answer[:100])
            self.assertIn(b"no tunnel inside a tunnel", answer)

    def test_a_download_sent_again_takes_over_from_the_lost_one(self):
        """A GET whose connection a proxy lost is still held at the server; the client's copy
        of it is answered (once: 409 until the hold ran out, and the tunnel failed)."""
        import http.client
        with Server() as srv:
            status, token = self.request(srv, "POST", "/v1/tunnel")
            token = token.decode()
            lost = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
            lost.request("GET", "/v1/tunnel/%s/down/0" % token)  # held: nothing to send yet
            time.sleep(0.3)
            inner = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
            again = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
            again.request("GET", "/v1/tunnel/%s/down/0" % token)
            time.sleep(0.3)
            self.assertEqual(self.request(srv, "POST", "/v1/tunnel/%s/up/0" % token, inner)[0],
                             204)
            r = again.getresponse()
            self.assertEqual(r.status, 200)
            self.assertTrue(r.read().startswith(b"HTTP/1.1 200"))
            again.close()
            lost.close()

    def test_each_tunnel_holds_one_of_the_addresss_connections(self):
        import http.client
        with Server(["--max-connections-per-address", "4"]) as srv:
            # One kept-alive connection asks, so that only the tunnels come and go.
            c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
            statuses = []
            for _ in range(6):
                c.request("POST", "/v1/tunnel")
                r = c.getresponse()
                r.read()
                statuses.append(r.status)
            c.close()
            # Three tunnels and the connection that asks for the next one: the address's four.
            self.assertEqual(statuses, [200] * 3 + [503] * 3)
