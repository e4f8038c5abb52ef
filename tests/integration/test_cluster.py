"""A cluster: three `ferry serve --redis` nodes on loopback sharing a real redis-server started
here. Transfers meet across nodes and relay through a third; one guess and the claim limit hold
cluster-wide; Redis restarts, a relay node dies, 1,000 codes expire; Redis down is reported."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

from ferrylib import FERRY, Run, TempDirTest, free_port, interrupt, write_random
from wsclient import WebSocket

REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"


class Redis:
    """A throwaway redis-server on a free loopback port, nothing saved to disk."""

    def __init__(self, port=None, password=None, extra=()):
        self.port = port or free_port()
        self.password = password
        self.extra = list(extra)  # e.g. a TLS port beside the plain one
        self.dir = tempfile.mkdtemp(prefix="ferry-redis-")
        self.proc = None

    def start(self):
        auth = ["--requirepass", self.password] if self.password else []
        self.proc = subprocess.Popen([REDIS, "--port", str(self.port), "--bind", "127.0.0.1",
                                      "--save", "", "--appendonly", "no", "--dir", self.dir] +
                                     auth + self.extra,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                if self.call("PING") == "PONG":
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def url(self):
        return "redis://127.0.0.1:%d" % self.port

    def call(self, *args):
        """One command over RESP (stdlib only); returns str, int, list or None."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            commands = ([["AUTH", self.password]] if self.password else []) + [list(args)]
            out = b""
            for command in commands:
                out += b"*%d\r\n" % len(command)
                for a in command:
                    a = str(a).encode()
                    out += b"$%d\r\n%s\r\n" % (len(a), a)
            s.sendall(out)
            f = s.makefile("rb")
            if self.password:
                self._reply(f)
            return self._reply(f)

    def _reply(self, f):
        line = f.readline()
        kind, rest = line[:1], line[1:-2].decode()
        if kind == b"+":
            return rest
        if kind == b"-":
            raise RuntimeError(rest)
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = f.read(n + 2)[:-2]
            return data.decode()
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply(f) for _ in range(n)]
        raise RuntimeError("bad reply %r" % line)

    def keys(self, pattern="ferry:*"):
        return sorted(self.call("KEYS", pattern))


class Node:
    """One `ferry serve --redis` on its own loopback port."""

    def __init__(self, redis, key_file, relay=True, extra=(), port=None, redis_url=None, env=None):
        self.port = port or free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.args = [FERRY, "serve", "--listen", "127.0.0.1:%d" % self.port, "--public-url",
                     self.url, "--redis", redis_url or redis.url, "--relay-key-file", key_file,
                     "--no-stun",
                     "--log-level", "info"] + ([] if relay else ["--no-relay"]) + list(extra)
        self.log_file = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=self.log_file,
                                     text=True, env=dict(os.environ, **(env or {})))
        line = self.proc.stdout.readline()
        if "listening on" not in line:
            self.proc.kill()
            raise RuntimeError("ferry serve did not start: " + line + self.log())
        # After the public URL and STUN lines, a node with a relay names its relay over UDP.
        self.relay_udp_port = None
        if relay and "--no-relay-udp" not in extra:
            for _ in range(3):
                m = re.search(r"relay over UDP on port (\d+)", self.proc.stdout.readline())
                if m:
                    self.relay_udp_port = int(m.group(1))
                    break

    def relayed(self, connected):
        """Whether a connected event is on this node's relay, over TCP or over UDP."""
        return connected["path"] == "relay" and (
            self.url in connected["peer"] or
            connected["peer"] == "127.0.0.1:%s" % self.relay_udp_port)

    def log(self):
        self.log_file.seek(0)
        return self.log_file.read().decode(errors="replace")

    def health(self, private=False):
        """/healthz on the public port (which never says why it is not ready: that names
        internal addresses), or with private on --metrics-listen's port (which does)."""
        url = self.url + "/healthz"
        if private:
            url = "http://%s/healthz" % self.args[self.args.index("--metrics-listen") + 1]
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def wait_ready(self, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.health()[0] == 200:
                return True
            time.sleep(0.05)
        return False

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        rc = interrupt(self.proc)
        self.proc.stdout.close()
        return rc

    def close(self):
        self.log_file.close()


class ClusterTest(TempDirTest):
    def setUp(self):
        super().setUp()
        self.assertTrue(os.path.exists(REDIS), "redis-server is not installed (scripts/setup.sh)")
        self.redis = Redis().start()
        self.key = os.path.join(self.tmp, "relay.key")
        with open(self.key, "w") as f:
            f.write(os.urandom(32).hex())
        self.nodes = []

    def tearDown(self):
        crashed = []
        for n in self.nodes:
            rc = n.stop()
            if rc not in (0, -signal.SIGINT, -signal.SIGKILL):
                crashed.append("node %d exited with %r: %s" % (n.port, rc, n.log()[-3000:]))
            n.close()
        self.redis.close()
        super().tearDown()
        self.assertEqual(crashed, [])

    def node(self, relay=True, extra=()):
        n = Node(self.redis, self.key, relay=relay, extra=extra)
        self.nodes.append(n)
        self.assertTrue(n.wait_ready(), n.log())
        return n

    def send(self, node, paths, extra=(), **kw):
        return Run(["send", "--server", node.url] + list(extra) + list(paths), **kw)

    def receive(self, node, code, extra=("--yes",), out=None, **kw):
        return Run(["receive", "--server", node.url, "--output", out or self.out] + list(extra) +
                   [code], **kw)

    def pool(self):
        return sorted(self.redis.call("ZRANGE", "ferry:relays", 0, -1))

    def test_a_group_send_across_nodes_one_guess_for_everyone(self):
        a, b = self.node(), self.node()
        src = os.path.join(self.src, "group.bin")
        write_random(src, 6 << 20)
        s = self.send(a, [src], extra=["--receivers", "3"])
        code = s.wait_event("code")
        outs = [os.path.join(self.tmp, "g%d" % i) for i in range(3)]
        # Three at once, on both nodes, by the code and by the link: one pairs, the others wait in
        # line in Redis and are paired from whichever node asks for the next.
        runs = [self.receive(b, code["code"], out=outs[0]), self.receive(a, code["link"], out=outs[1]),
                self.receive(b, code["link"], out=outs[2])]
        for r in runs:
            self.assertEqual(r.finish(), 0, r.stderr.decode())
        self.assertEqual(s.finish(), 0, s.stderr.decode())
        for out in outs:
            self.assertSameFile(src, os.path.join(out, "group.bin"))
        self.assertEqual(sorted(e["receiver"] for e in s.events if e["event"] == "done"), [1, 2, 3])
        self.assertEqual(self.redis.keys("ferry:grp*"), [])
        late = self.receive(b, code["code"], extra=("--yes", "--wait", "0"), out=self.out)
        self.assertEqual(late.finish(), 6)
        # A wrong guess on the other node ends a --many send for everyone.
        s = self.send(a, [src], extra=["--many"])
        code = s.wait_event("code")["code"]
        first = self.receive(b, code, out=os.path.join(self.tmp, "many1"))
        self.assertEqual(first.finish(), 0, first.stderr.decode())
        words = code.split("-")
        guess = self.receive(b, "-".join([words[0], words[2], words[1]]), out=self.out)
        self.assertEqual(guess.finish(), 3)
        self.assertEqual(s.finish(timeout=30), 3, s.stderr.decode())
        self.assertEqual(self.redis.keys("ferry:grp*"), [])

    def test_a_killed_receiver_comes_back_through_another_node(self):
        a, b = self.node(), self.node()
        src = os.path.join(self.src, "big.bin")
        write_random(src, 500 << 20)
        s = self.send(a, [src], extra=["--code", "77-acorn-zebra"])
        self.assertIsNotNone(s.wait_event("code"))
        r = self.receive(b, "77-acorn-zebra")
        self.assertIsNotNone(r.wait_event("progress"))
        r.kill()
        note = s.wait_note("continues where it stopped")
        self.assertIsNotNone(note, s.stderr)
        again = self.receive(a, "77-acorn-zebra", extra=("--yes", "--wait", "0"))
        self.assertIsNotNone(again.wait_event("resumed"), again.stderr)
        self.assertEqual(again.finish(), 0, again.stderr.decode())
        self.assertEqual(s.finish(timeout=30), 0, s.stderr.decode())
        self.assertSameFile(src, os.path.join(self.out, "big.bin"))

    def test_sender_receiver_and_relay_on_three_nodes(self):
        a, b = self.node(relay=False), self.node(relay=False)
        c = self.node()
        self.assertEqual(self.pool(), [c.url])
        folder = os.path.join(self.src, "album")
        os.makedirs(os.path.join(folder, "deep"))
        write_random(os.path.join(folder, "one.bin"), 3 << 20)
        write_random(os.path.join(folder, "deep", "two.bin"), 12345)
        s = self.send(a, [folder], extra=["--force-relay"])
        code = s.wait_event("code")["code"]
        r = self.receive(b, code)
        self.assertEqual(r.finish(), 0, r.stderr.decode())
        self.assertEqual(s.finish(), 0, s.stderr.decode())
        for ev in (r.event("connected"), s.event("connected")):
            self.assertTrue(c.relayed(ev), ev)  # the pool's relay, not the rendezvous node
        self.assertSameFile(os.path.join(folder, "one.bin"), os.path.join(self.out, "album", "one.bin"))
        self.assertSameFile(os.path.join(folder, "deep", "two.bin"),
                            os.path.join(self.out, "album", "deep", "two.bin"))
        self.assertIn("relay_start", c.log())
        self.assertNotIn("relay_start", a.log() + b.log())
        self.assertIn("rendezvous_allocated", a.log())
        self.assertIn("rendezvous_paired", b.log())
        # Text too, with a pre-agreed code: the receiver waits first on one node, the sender
        # allocates that nameplate on another and is paired at once.
        agreed = "4242-" + code.split("-", 1)[1]
        r = self.receive(a, agreed)
        self.assertIsNotNone(r.wait_event("waiting"))
        self.assertEqual(self.redis.keys("ferry:aw:*"), ["ferry:aw:4242"])
        s = self.send(b, [], extra=["--text", "across the cluster", "--code", agreed])
        self.assertEqual(r.finish(), 0, r.stderr.decode())
        self.assertEqual(s.finish(), 0)
        self.assertEqual(r.event("text")["text"], "across the cluster")
        # Nothing is left behind for the codes used.
        self.assertEqual([k for k in self.redis.keys() if k.startswith(("ferry:np:", "ferry:aw:"))], [])

    def test_the_relay_over_udp_of_the_pools_relay(self):
        # The pool announces each relay's UDP port beside its URL; the pair dials the one the
        # rendezvous named, here over UDP alone (FERRY_NO_RELAY_TCP).
        a = self.node(relay=False)
        c = self.node()
        self.assertIsNotNone(c.relay_udp_port)
        self.assertTrue(self.wait_for(
            lambda: self.redis.call("HGET", "ferry:relay_udp", c.url) == str(c.relay_udp_port)))
        path = os.path.join(self.src, "f.bin")
        write_random(path, 5 << 20)
        env = {"FERRY_NO_RELAY_TCP": "1"}
        s = self.send(a, [path], extra=["--force-relay"], env=env)
        code = s.wait_event("code")["code"]
        r = self.receive(a, code, env=env)
        self.assertEqual(r.finish(), 0, r.stderr.decode())
        self.assertEqual(s.finish(), 0, s.stderr.decode())
        for ev in (r.event("connected"), s.event("connected")):
            self.assertEqual((ev["path"], ev["transport"]), ("relay", "quic"))
            self.assertTrue(c.relayed(ev), ev)
        self.assertSameFile(path, os.path.join(self.out, "f.bin"))

    def test_one_guess_holds_across_nodes(self):
        a, b, c = self.node(), self.node(), self.node()
        write_random(os.path.join(self.src, "f.bin"), 1000)
        s = self.send(a, [os.path.join(self.src, "f.bin")])
        code = s.wait_event("code")["code"]
        number, words = code.split("-", 1)
        first, second = words.split("-")
        wrong = number + "-" + (second + "-" + first if first != second else "zebra-" + first)
        r = self.receive(b, wrong)
        self.assertNotEqual(r.finish(), 0)
        self.assertEqual(r.event("error")["code"], "wrong_code")
        self.assertNotEqual(s.finish(), 0)
        self.assertEqual(s.event("error")["code"], "wrong_code")
        # The right words on a third node find nothing: the guess burned the code everywhere.
        r = self.receive(c, code, extra=("--yes", "--wait", "0"))
        self.assertNotEqual(r.finish(), 0)
        self.assertEqual(r.event("error")["code"], "code_unknown")
        self.assertEqual(os.listdir(self.out), [])

    def claim(self, node, nameplate):
        ws = WebSocket(node.port)
        self.assertEqual(json.loads(ws.recv()[1])["type"], "welcome")
        ws.send_json({"type": "claim", "nameplate": nameplate})
        answer = json.loads(ws.recv()[1])
        ws.sock.close()
        return answer

    def joined(self, node, message, origin=None):
        ws = WebSocket(node.port, origin=origin)
        self.assertEqual(json.loads(ws.recv()[1])["type"], "welcome")
        ws.send_json(message)
        return ws

    def test_a_page_relays_through_the_node_it_came_from(self):
        # A page may open WebSockets only to its own origin: whichever side it is, its pair is
        # sent to its node's relay, not to the pool's least loaded.
        a, b = self.node(), self.node()
        for page_allocates in (True, False):
            sender = self.joined(a, {"type": "allocate"}, origin=a.url if page_allocates else None)
            nameplate = json.loads(sender.recv()[1])["nameplate"]
            receiver = self.joined(b, {"type": "claim", "nameplate": nameplate},
                                   origin=None if page_allocates else b.url)
            page_node = a if page_allocates else b
            for ws in (sender, receiver):
                paired = json.loads(ws.recv()[1])
                self.assertEqual(paired["type"], "paired")
                self.assertEqual(paired["relay"], page_node.url)
                self.assertEqual(len(paired["relay_grant"]), 80)
                ws.sock.close()

    def test_the_claim_limit_counts_across_nodes(self):
        nodes = [self.node(extra=["--claims-per-minute", "4"]) for _ in range(3)]
        answers = [self.claim(nodes[i % 3], str(100 + i)) for i in range(6)]
        self.assertEqual([a.get("code") for a in answers[:4]], ["code_unknown"] * 4)
        # Each node saw at most two claims, under its own limit of 4: the fifth is refused by the
        # cluster's count.
        self.assertEqual([a.get("code") for a in answers[4:]], ["limit", "limit"])
        self.assertIn("wait a minute", answers[4]["message"])

    def test_a_code_survives_a_redis_restart(self):
        a, b = self.node(), self.node()
        write_random(os.path.join(self.src, "f.bin"), 200000)
        s = self.send(a, [os.path.join(self.src, "f.bin")])
        code = s.wait_event("code")["code"]
        self.assertEqual(len(self.redis.keys("ferry:grp:*")), 1)  # a CLI code can come back
        self.redis.stop()
        self.assertEqual(a.health()[0], 503) if self.wait_for(lambda: a.health()[0] == 503) else self.fail(
            "node A still says ready with Redis gone")
        self.assertIn("not ready", a.health()[1])
        self.redis.start()  # empty: nothing was saved
        self.assertTrue(a.wait_ready() and b.wait_ready())
        # Node A wrote its waiting sender's code again.
        self.assertTrue(self.wait_for(lambda: len(self.redis.keys("ferry:grp:*")) == 1))
        r = self.receive(b, code)
        self.assertEqual(r.finish(), 0, r.stderr.decode())
        self.assertEqual(s.finish(), 0)
        self.assertSameFile(os.path.join(self.src, "f.bin"), os.path.join(self.out, "f.bin"))

    def wait_for(self, predicate, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if predicate():
                return True
            time.sleep(0.1)
        return False

    def test_a_dead_relay_leaves_the_pool(self):
        a = self.node(relay=False)
        b, c = self.node(), self.node()
        self.assertTrue(self.wait_for(lambda: self.pool() == sorted([b.url, c.url])))
        c.kill()
        write_random(os.path.join(self.src, "f.bin"), 100000)
        # Within a few heartbeats the pool picks B alone (a pick also drops the silent).
        time.sleep(3.5)
        for i in range(2):
            s = self.send(a, [os.path.join(self.src, "f.bin")], extra=["--force-relay"])
            code = s.wait_event("code")["code"]
            r = self.receive(a, code, out=os.path.join(self.tmp, "o%d" % i))
            self.assertEqual(r.finish(), 0, r.stderr.decode())
            self.assertEqual(s.finish(), 0)
            self.assertTrue(b.relayed(r.event("connected")), r.event("connected"))
        self.assertEqual(self.pool(), [b.url])

    def test_a_relay_killed_mid_transfer_fails_over_to_another_without_a_new_code(self):
        a = self.node(relay=False)
        slow = ["--relay-rate", "2M"]
        b, c = self.node(extra=slow), self.node(extra=slow)
        self.assertTrue(self.wait_for(lambda: len(self.pool()) == 2))
        path = os.path.join(self.src, "big.bin")
        write_random(path, 12 << 20)
        s = self.send(a, [path], extra=["--force-relay"])
        code = s.wait_event("code")["code"]
        r = self.receive(a, code)
        self.assertIsNotNone(r.wait_event("progress"))
        carrying = b if "relay_start" in b.log() else c
        self.assertIn("relay_start", carrying.log())
        time.sleep(1)
        killed = time.time()
        carrying.kill()
        # Both sides notice, meet again on the same code, and the pool hands them the relay
        # that is left: the transfer continues from what arrived, no byte twice.
        self.assertEqual(r.finish(timeout=60), 0, r.stderr.decode())
        self.assertEqual(s.finish(timeout=30), 0, s.stderr.decode())
        print("relay killed mid-transfer: done on another %.1f s later" % (time.time() - killed))
        self.assertGreater(r.event("resumed")["bytes"], 0)
        self.assertTrue(any("reconnecting to continue" in e.get("text", "") for e in r.events))
        self.assertSameFile(path, os.path.join(self.out, "big.bin"))
        left = c if carrying is b else b
        self.assertTrue(left.relayed([e for e in r.events if e["event"] == "connected"][-1]))
        self.assertEqual(len([e for e in r.events if e["event"] == "offer"]), 1)

    def test_a_thousand_codes_expire_and_leave_redis_empty(self):
        # Long enough for all 1,000 to be waiting at once, even in the sanitizer build on a loaded
        # machine (CI's ASan suite beside clang-tidy took over 10 s to allocate them; an expired
        # code's nameplate is then rightly handed out again, and the count below fails).
        extra = ["--code-ttl", "25", "--connects-per-second-per-address", "5000"]
        nodes = [self.node(extra=extra) for _ in range(3)]
        sockets = []
        for i in range(1000):
            ws = WebSocket(nodes[i % 3].port, timeout=40)
            ws.recv()  # welcome
            ws.send_json({"type": "allocate"})
            sockets.append(ws)
        nameplates = set()
        for ws in sockets:
            m = json.loads(ws.recv()[1])
            self.assertEqual(m["type"], "allocated")
            nameplates.add(m["nameplate"])
        self.assertEqual(len(nameplates), 1000)  # no nameplate handed out twice
        self.assertEqual(len(self.redis.keys("ferry:np:*")), 1000)
        expired = 0
        for ws in sockets:
            m = json.loads(ws.recv()[1])
            expired += m.get("code") == "expired"
            ws.sock.close()
        self.assertEqual(expired, 1000)
        # Left: the nodes' heartbeats and the relay pool, which expire when the nodes are gone.
        lasting = ["ferry:alive:", "ferry:relay_load", "ferry:relay_udp", "ferry:relays"]
        self.assertTrue(self.wait_for(
            lambda: [k for k in self.redis.keys() if not k.startswith(tuple(lasting))] == []),
            self.redis.keys()[:10])
        for k in self.redis.keys():
            self.assertGreater(self.redis.call("PTTL", k), 0, k)
        for n in self.nodes:
            n.stop()
        self.assertTrue(self.wait_for(lambda: self.redis.keys() == [], timeout=15),
                        self.redis.keys())

    def test_a_restarted_node_keeps_its_waiting_code(self):
        a, b = self.node(), self.node()
        write_random(os.path.join(self.src, "f.bin"), 300000)
        s = self.send(a, [os.path.join(self.src, "f.bin")])
        code = s.wait_event("code")["code"]
        a.kill()  # no goodbye: its clients' keys stay in Redis
        restarted = Node(self.redis, self.key, extra=[], port=a.port)
        self.nodes.append(restarted)
        self.assertIsNotNone(s.wait_event("note"))  # reconnecting
        self.assertEqual(s.wait_event("note")["text"], "Reconnected; the code still works")
        r = self.receive(b, code)
        self.assertEqual(r.finish(), 0, r.stderr.decode())
        self.assertEqual(s.finish(), 0)
        self.assertSameFile(os.path.join(self.src, "f.bin"), os.path.join(self.out, "f.bin"))

    def test_a_killed_node_leaves_its_code_claimable_on_another(self):
        x, y = self.node(), self.node()
        lb = HaProxy([x, y], self.tmp)
        try:
            write_random(os.path.join(self.src, "f.bin"), 300000)
            s = Run(["send", "--server", lb.url, os.path.join(self.src, "f.bin")])
            code = s.wait_event("code")["code"]
            owner = x if "rendezvous_allocated" in x.log() else y
            other = y if owner is x else x
            # The sender is frozen while its node dies, so the receiver comes first: the code is
            # still in Redis, its node is not, so the claim waits for the sender's return.
            s.proc.send_signal(signal.SIGSTOP)
            owner.kill()
            time.sleep(3.5)  # the dead node's heartbeat runs out
            r = self.receive(other, code)
            self.assertIsNotNone(r.wait_event("waiting"))
            s.proc.send_signal(signal.SIGCONT)
            self.assertEqual(r.finish(), 0, r.stderr.decode())
            self.assertEqual(s.finish(), 0, s.stderr.decode())
            self.assertIn("Reconnected; the code still works", [e.get("text") for e in s.events])
            self.assertSameFile(os.path.join(self.src, "f.bin"), os.path.join(self.out, "f.bin"))
        finally:
            lb.stop()

    def test_a_receiver_waiting_for_its_sender_keeps_waiting_when_its_node_dies(self):
        x, y = self.node(), self.node()
        lb = HaProxy([x, y], self.tmp)
        try:
            write_random(os.path.join(self.src, "f.bin"), 300000)
            code = "52-acorn-zebra"
            r = Run(["receive", "--server", lb.url, "--yes", "--output", self.out, code])
            self.assertIsNotNone(r.wait_event("waiting"))
            owner = x if "rendezvous_receiver_waiting" in x.log() else y
            owner.kill()
            self.assertEqual(r.wait_note("Reconnected; still claiming the code")["text"],
                             "Reconnected; still claiming the code")
            # Once the dead node's heartbeat ran out, its hold on the number is nobody's: the
            # sender must not pair with that ghost, and the receiver takes the number over.
            time.sleep(3.5)
            s = Run(["send", "--server", lb.url, "--code", code, os.path.join(self.src, "f.bin")])
            self.assertEqual(r.finish(), 0, r.stderr.decode())
            self.assertEqual(s.finish(), 0, s.stderr.decode())
            # Said once: the wait went on, it did not start again.
            self.assertEqual(len([e for e in r.events if e["event"] == "waiting"]), 1)
            self.assertSameFile(os.path.join(self.src, "f.bin"), os.path.join(self.out, "f.bin"))
        finally:
            lb.stop()


class HaProxy:
    """haproxy in TCP mode in front of the nodes, as an operator runs it: round robin, health
    checks every 200 ms, a dead node's connections sent to another."""

    def __init__(self, nodes, tmp):
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.cfg = os.path.join(tmp, "haproxy.cfg")
        servers = "\n".join("  server n%d 127.0.0.1:%d check inter 200 fall 1 rise 1" % (i, n.port)
                             for i, n in enumerate(nodes))
        with open(self.cfg, "w") as f:
            f.write("""global
  maxconn 2000
defaults
  mode tcp
  timeout connect 2s
  timeout client 1h
  timeout server 1h
  retries 3
  option redispatch
frontend ferry
  bind 127.0.0.1:%d
  default_backend nodes
backend nodes
  balance roundrobin
%s
""" % (self.port, servers))
        self.proc = subprocess.Popen([HAPROXY, "-db", "-f", self.cfg], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("haproxy did not start")

    def stop(self):
        self.proc.kill()
        self.proc.wait()


class RedisDownTest(TempDirTest):
    def test_redis_down_is_a_clear_error_and_recovery_is_automatic(self):
        redis = Redis()
        key = os.path.join(self.tmp, "relay.key")
        with open(key, "w") as f:
            f.write(os.urandom(32).hex())
        node = Node(redis, key, extra=["--metrics-listen", "127.0.0.1:%d" % free_port()])
        try:
            deadline = time.time() + 10
            while "cannot be reached" not in node.health(private=True)[1] and time.time() < deadline:
                time.sleep(0.1)
            status, text = node.health(private=True)
            self.assertEqual(status, 503)
            self.assertIn("not ready: redis://127.0.0.1:%d/0 cannot be reached" % redis.port, text)
            # The public one says only that it is not ready: Redis's address is nobody's business.
            status, text = node.health()
            self.assertEqual(status, 503)
            self.assertIn("not ready", text)
            self.assertNotIn("127.0.0.1:%d" % redis.port, text)
            s = Run(["send", "--server", node.url, "--text", "hi"])
            self.assertNotEqual(s.finish(timeout=30), 0)
            err = s.event("error")
            self.assertEqual(err["code"], "server_error")
            self.assertIn("try again in a moment", err["message"])
            redis.start()
            self.assertTrue(node.wait_ready(timeout=10), node.log())
            s = Run(["send", "--server", node.url, "--text", "hi"])
            self.assertIsNotNone(s.wait_event("code"))
            s.kill()
        finally:
            node.stop()
            redis.close()
        self.assertIn("redis_up", node.log())
        node.close()


class RedisCredentialsTest(TempDirTest):
    def make_ca_and_cert(self):
        """A CA and a certificate for localhost signed by it (openssl)."""
        ca_key, ca = os.path.join(self.tmp, "ca.key"), os.path.join(self.tmp, "ca.pem")
        key, csr, cert = (os.path.join(self.tmp, n) for n in ("r.key", "r.csr", "r.pem"))
        quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=ferry test CA", "-keyout", ca_key, "-out", ca], **quiet)
        subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                        "-keyout", key, "-out", csr], **quiet)
        ext = os.path.join(self.tmp, "ext.cnf")
        with open(ext, "w") as f:
            f.write("subjectAltName=DNS:localhost\n")
        subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
                        "-CAcreateserial", "-days", "1", "-extfile", ext, "-out", cert], **quiet)
        return ca, key, cert

    def test_a_password_and_tls_and_the_clear_errors_when_they_are_wrong(self):
        ca, key, cert = self.make_ca_and_cert()
        tls_port = free_port()
        redis = Redis(password="s3cret-pass", extra=[
            "--tls-port", str(tls_port), "--tls-cert-file", cert, "--tls-key-file", key,
            "--tls-ca-cert-file", ca, "--tls-auth-clients", "no"]).start()
        relay_key = os.path.join(self.tmp, "relay.key")
        with open(relay_key, "w") as f:
            f.write(os.urandom(32).hex())
        nodes = []
        try:
            good = Node(redis, relay_key, redis_url="rediss://:s3cret-pass@localhost:%d/2" % tls_port,
                        env={"SSL_CERT_FILE": ca})
            nodes.append(good)
            self.assertTrue(good.wait_ready(), good.log())
            s = Run(["send", "--server", good.url, "--text", "over TLS"])
            code = s.wait_event("code")["code"]
            r = Run(["receive", "--server", good.url, "--yes", "--output", self.out, code])
            self.assertEqual(r.finish(), 0, r.stderr.decode())
            self.assertEqual(s.finish(), 0)
            self.assertEqual(r.event("text")["text"], "over TLS")
            # A wrong password, and a certificate this node does not trust: not ready, and why.
            private = lambda: ["--metrics-listen", "127.0.0.1:%d" % free_port()]  # noqa: E731
            wrong = Node(redis, relay_key, redis_url="redis://:nope@127.0.0.1:%d" % redis.port,
                         extra=private())
            untrusted = Node(redis, relay_key, extra=private(),
                             redis_url="rediss://:s3cret-pass@localhost:%d" % tls_port)
            nodes += [wrong, untrusted]
            for node, why in ((wrong, "WRONGPASS"), (untrusted, "TLS failed")):
                deadline = time.time() + 10
                while why not in node.health(private=True)[1] and time.time() < deadline:
                    time.sleep(0.1)
                status, text = node.health(private=True)
                self.assertEqual(status, 503, text)
                self.assertIn(why, text)
            for node in nodes:
                self.assertNotIn("s3cret-pass", node.log() + node.health()[1])
                if "--metrics-listen" in node.args:
                    self.assertNotIn("s3cret-pass", node.health(private=True)[1])
                self.assertIn("***@", node.log())  # the URL is logged without its password
        finally:
            for node in nodes:
                node.stop()
                node.close()
            redis.close()


if __name__ == "__main__":
    unittest.main()
