"""Helpers for integration tests: the real ferry binary, a real `ferry serve`, real sockets."""
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import unittest

FERRY = os.environ.get("FERRY_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "release", "src", "cli", "ferry")


def interrupt(proc, timeout=5):
    """SIGINT, then SIGKILL if it has not exited within timeout; returns its exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


class Server:
    """A `ferry serve` on a free loopback port, stopped on exit; extra: more serve flags."""

    def __init__(self, extra=(), listen="127.0.0.1:0", nofile=None, wrap=(), env=None):
        self.env = env  # the server's environment (default: this process's)
        self.extra = list(extra)
        self.listen = listen
        self.wrap = list(wrap)  # a command prefix, e.g. ["ip", "netns", "exec", NAME]
        self.nofile = nofile  # the server's descriptor limit (soft and hard), e.g. 256

    def _limits(self):
        if self.nofile:
            import resource
            resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, self.nofile))

    def __enter__(self):
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(self.wrap + [FERRY, "serve", "--listen", self.listen] + self.extra,
                                     stdout=subprocess.PIPE, stderr=self.stderr, text=True,
                                     preexec_fn=self._limits, env=self.env)
        line = self.proc.stdout.readline()
        m = re.search(r"listening on ([0-9a-f.:]+):(\d+)", line)
        if not m:
            self.proc.kill()
            raise RuntimeError("ferry serve did not start: " + line)
        self.port = int(m.group(2))
        self.url = self.proc.stdout.readline().split("public URL:")[1].strip()
        m = re.search(r"STUN on UDP ports (\d+) and (\d+)", self.proc.stdout.readline())
        self.stun_ports = (int(m.group(1)), int(m.group(2))) if m else None
        self.relay_udp_port = None
        if not {"--no-relay", "--no-relay-udp"} & set(self.extra):
            m = re.search(r"relay over UDP on port (\d+)", self.proc.stdout.readline())
            self.relay_udp_port = int(m.group(1)) if m else None
        self.metrics_port = None
        if any(a == "--metrics-listen" for a in self.extra):
            self.metrics_port = int(self.proc.stdout.readline().rsplit(":", 1)[1])
        return self

    def log(self):
        """What the server wrote to stderr so far (its log)."""
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")

    def wait_log(self, needle, timeout=10):
        """Waits until a log line contains needle; returns that line (fails the caller: None)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            for line in self.log().splitlines():
                if needle in line:
                    return line
            time.sleep(0.1)
        return None

    def cpu_seconds(self):
        """User + system CPU seconds the server has used so far."""
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def metrics(self, port=None):
        """GET /metrics as {name or name{labels}: value}."""
        import urllib.request
        text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % (port or self.port),
                                      timeout=5).read()
        out = {}
        for line in text.decode().splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out

    def __exit__(self, *exc):
        # SIGINT stops at once (SIGTERM would let relayed transfers drain: test_operations).
        interrupt(self.proc)
        # A crashed server would hide behind passing transfers: insist it was still alive.
        self.proc.stdout.close()
        self.stderr.seek(0)
        said = self.stderr.read().decode(errors="replace")[-4000:]
        self.stderr.close()
        assert self.proc.returncode in (0, -signal.SIGINT), "server exited with %r: %s" % (
            self.proc.returncode, said)


class Run:
    """One ferry client process with --json; events parsed as they arrive."""

    live = []  # every one started; TempDirTest kills those still running after each test

    def __init__(self, args, stdin=None, input_text=None, env=None):
        Run.live.append(self)
        full_env = dict(os.environ)
        full_env.pop("FERRY_SERVER", None)
        full_env.update(env or {})
        self.proc = subprocess.Popen([FERRY] + args + ["--json"], stdin=stdin or subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full_env)
        self.events = []
        self.stderr = b""
        if input_text is not None:
            self.proc.stdin.write(input_text.encode())
            self.proc.stdin.close()

    def next_event(self, timeout=30):
        """Reads one event line (blocking)."""
        line = self.proc.stdout.readline()
        if not line:
            return None
        ev = json.loads(line)
        self.events.append(ev)
        return ev

    def wait_event(self, kind, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            ev = self.next_event()
            if ev is None:
                return None
            if ev["event"] == kind:
                return ev
        return None

    def wait_note(self, part, timeout=60):
        """The next note whose text contains part (None if the process ends first)."""
        ev = self.wait_event("note", timeout)
        while ev is not None and part not in ev["text"]:
            ev = self.wait_event("note", timeout)
        return ev

    def finish(self, timeout=120):
        if self.proc.stdin and self.proc.stdin.closed:
            self.proc.stdin = None
        out, err = self.proc.communicate(timeout=timeout)
        for line in out.splitlines():
            if line.strip():
                self.events.append(json.loads(line))
        self.stderr += err
        return self.proc.returncode

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def event(self, kind):
        for ev in self.events:
            if ev["event"] == kind:
                return ev
        return None


def send(server, paths, code=None, extra=(), **kw):
    args = ["send", "--server", server.url] + list(extra)
    if code:
        args += ["--code", code]
    return Run(args + list(paths), **kw)


def receive(server, code, out_dir, extra=(), **kw):
    args = ["receive", "--server", server.url, "--output", str(out_dir)] + list(extra) + [code]
    return Run(args, **kw)


def write_random(path, size, block=1 << 20):
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(block, left)
            f.write(os.urandom(n))
            left -= n


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Blinker:
    """A TCP forwarder to a local port whose connections can all be cut at once (a network blink):
    new connections still get through."""

    def __init__(self, target_port):
        self.target = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.socks = []
        self.blocked = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                client.close()
                continue
            with self.lock:
                self.socks += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while True:
                data = src.recv(1 << 16)
                if not data:
                    break
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def cut(self):
        """Resets every connection made so far."""
        with self.lock:
            socks, self.socks = self.socks, []
        for sock in socks:
            try:
                # shutdown first: it wakes the pump blocked on this socket, which close alone
                # does not (the kernel would keep the connection until that call returned).
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def close(self):
        self.listener.close()
        self.cut()


class TempDirTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ferry-it-")
        self.src = os.path.join(self.tmp, "src")
        self.out = os.path.join(self.tmp, "out")
        os.makedirs(self.src)
        os.makedirs(self.out)

    def tearDown(self):
        # A test that failed half way leaves no client behind (a LAN sender left running would
        # answer the next test's receiver).
        for run in Run.live:
            if run.proc.poll() is None:
                run.proc.kill()
                run.proc.wait()
        Run.live.clear()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def assertSameFile(self, a, b):
        self.assertTrue(os.path.exists(b), "%s was not received" % b)
        self.assertEqual(os.path.getsize(a), os.path.getsize(b))
        with open(a, "rb") as fa, open(b, "rb") as fb:
            while True:
                x, y = fa.read(1 << 20), fb.read(1 << 20)
                self.assertEqual(x, y)
                if not x:
                    break

    def transfer(self, paths, code, send_extra=(), recv_extra=("--yes",), **kw):
        with Server() as srv:
            s = send(srv, paths, code=code, extra=send_extra)
            self.assertIsNotNone(s.wait_event("code"), s.proc.stderr.read() if s.proc.poll() is not None else "")
            r = receive(srv, code, self.out, extra=recv_extra, **kw)
            rc_r = r.finish()
            rc_s = s.finish()
            return s, r, rc_s, rc_r
