"""The hostile-network lab: real NAT routers, firewalls and a proxy in Linux network namespaces.

A Lab builds, for one scenario, an "internet" namespace (the ferry server on 198.51.100.10, a second
address 198.51.100.11 for STUN/reflection, a CONNECT proxy on 198.51.100.20) routed to one link per
side (203.0.113.0/24, a /30 each), a router per side with the named behaviour, and hosts A and B.
nftables counters in the internet namespace tell direct bytes (forwarded between the two sides)
from bytes to the server. Everything is torn down on exit, and a sweep removes what a killed run
left behind. Names carry a random prefix so two runs on one machine cannot collide.
"""
import atexit
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FERRY = os.environ.get("FERRY_BIN", os.path.join(ROOT, "build", "release", "src", "cli", "ferry"))
SERVER_IP = "198.51.100.10"
SERVER_URL = "http://%s:4300" % SERVER_IP
# With ipv6=True every link also carries IPv6 from the documentation prefix: the services on
# 2001:db8:100::10, side N's link 2001:db8:N::/64 and its LAN 2001:db8:N:1::/64 (global addresses,
# no NAT), each router a stateful firewall that lets out what the LAN starts and in only replies.
SERVER_IP6 = "2001:db8:100::10"
SERVER_URL6 = "http://[%s]:4300" % SERVER_IP6
SECOND_IP = "198.51.100.11"
PROXY_IP = "198.51.100.20"
STATE_DIR = "/run/ferry-lab"

# Router behaviours, as in docs/scenarios.md.
BEHAVIOURS = ("public", "cone", "fullcone", "symmetric", "udpblock", "proxyonly", "proxyauth",
              "cgnat", "upnp")
PROXY_USER, PROXY_PASSWORD = "ferry", "s3cret"


def sh(*args, check=True, ns=None, capture=False, timeout=30, env=None):
    cmd = (["ip", "netns", "exec", ns] if ns else []) + [str(a) for a in args]
    p = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout, env=env)
    if check and p.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(cmd), p.returncode, p.stderr.strip()))
    return p.stdout if capture else p


def nft(ns, ruleset):
    p = subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=ruleset, text=True,
                       capture_output=True)
    if p.returncode != 0:
        raise RuntimeError("nft in %s failed: %s\n%s" % (ns, p.stderr, ruleset))


def sweep_leftovers():
    """Deletes namespaces of earlier runs whose process is gone (a run killed by a timeout)."""
    if not os.path.isdir(STATE_DIR):
        return
    for name in os.listdir(STATE_DIR):
        if not name.startswith("fl"):
            continue
        path = os.path.join(STATE_DIR, name)
        try:
            with open(path) as f:
                pid = int(f.read().strip() or 0)
        except (OSError, ValueError):
            pid = 0
        if pid and os.path.exists("/proc/%d" % pid):
            continue
        for ns in sh("ip", "netns", "list", capture=True).split("\n"):
            ns = ns.split(" ")[0]
            if ns.startswith(name + "-"):
                sh("ip", "netns", "del", ns, check=False)
        os.remove(path)
    restore_allowed_cc()


# The delay daemon (tests/lab/delay/lab_delay.cpp), built with ferry when libnetfilter-queue is
# installed; one queue number per lab is enough (every delayed packet gets the same delay).
LAB_DELAY = os.environ.get("FERRY_LAB_DELAY") or os.path.join(ROOT, "build", "release", "tests",
                                                              "ferry-lab-delay")
DELAY_QUEUE = 7
# Every lab host runs the congestion control of users' desktops (Linux, Windows and macOS all
# default to CUBIC), whatever this machine's own default is.
LAB_CC = "cubic"
ALLOWED_CC = "/proc/sys/net/ipv4/tcp_allowed_congestion_control"


def allow_lab_cc():
    """A namespace may only default to an algorithm in the host's allowed list (the kernel refuses
    others with EPERM outside the initial namespace). Adds LAB_CC to it while labs run; the first
    lab notes the original list and the last one to close puts it back."""
    with open(ALLOWED_CC) as f:
        allowed = f.read().split()
    saved = os.path.join(STATE_DIR, "allowed_cc")
    if LAB_CC in allowed:
        return
    if not os.path.exists(saved):
        with open(saved, "w") as f:
            f.write(" ".join(allowed))
    with open(ALLOWED_CC, "w") as f:
        f.write(" ".join(allowed + [LAB_CC]))


def restore_allowed_cc():
    saved = os.path.join(STATE_DIR, "allowed_cc")
    if not os.path.exists(saved) or any(n.startswith("fl") for n in os.listdir(STATE_DIR)):
        return
    with open(saved) as f:
        original = f.read().strip()
    with open(ALLOWED_CC, "w") as f:
        f.write(original)
    os.remove(saved)


class Lab:
    def __init__(self, a, b, samelan=False, loss_permille=0, rate_mbit=0, delay_ms=0, cc=LAB_CC,
                 ipv6=False, mtu=0, blackhole=False, udp_timeout=0):
        """delay_ms is added each way on each side's link, so the peers see 4 x delay_ms of round
        trip and each peer sees 2 x delay_ms to the server. mtu: each side's WAN link carries
        packets of at most this many bytes (a tunnel, PPPoE); hosts behind a router do not know
        it. blackhole: the routers' "fragmentation needed" / "packet too big" answers are dropped
        (a PMTU black hole, as firewalls that drop all ICMP make). udp_timeout: the routers forget
        a UDP mapping after this many idle seconds, whether or not it carried replies (many home
        routers and carriers; Linux keeps an answered one for 120 s)."""
        for beh in (a, b):
            if beh not in BEHAVIOURS:
                raise ValueError("unknown router behaviour %r" % beh)
        self.a, self.b = a, b
        self.samelan = samelan
        self.loss = loss_permille
        self.rate = rate_mbit
        self.delay = delay_ms
        self.cc = cc
        self.ipv6 = ipv6
        self.mtu = mtu
        self.blackhole = blackhole
        self.udp_timeout = udp_timeout
        if ipv6 and (samelan or "cgnat" in (a, b)):
            raise ValueError("the lab's IPv6 covers one host per side behind its own router")
        self.prefix = "fl" + secrets.token_hex(3)
        self.namespaces = []
        self.procs = []
        self.tmp = tempfile.mkdtemp(prefix="ferry-lab-")
        os.chmod(self.tmp, 0o755)  # tinyproxy runs as nobody

    # --- lifecycle -------------------------------------------------------------------------
    def __enter__(self):
        sweep_leftovers()
        os.makedirs(STATE_DIR, exist_ok=True)
        with open(os.path.join(STATE_DIR, self.prefix), "w") as f:
            f.write(str(os.getpid()))
        if self.cc == LAB_CC:
            allow_lab_cc()
        atexit.register(self.close)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        try:
            self.build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def _on_signal(self, signum, frame):
        self.close()
        raise SystemExit(128 + signum)

    def close(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(3)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.procs = []
        for ns in reversed(self.namespaces):
            # Anything still running inside (a stray client) dies with the namespace's processes.
            pids = sh("ip", "netns", "pids", ns, check=False, capture=True).split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            sh("ip", "netns", "del", ns, check=False)
        self.namespaces = []
        marker = os.path.join(STATE_DIR, self.prefix)
        if os.path.exists(marker):
            os.remove(marker)
            restore_allowed_cc()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # --- building blocks --------------------------------------------------------------------
    def ns(self, role):
        return "%s-%s" % (self.prefix, role)

    def add_ns(self, role):
        name = self.ns(role)
        sh("ip", "netns", "add", name)
        self.namespaces.append(name)
        sh("ip", "link", "set", "lo", "up", ns=name)
        sh("sysctl", "-qw", "net.ipv4.tcp_congestion_control=" + self.cc, ns=name)
        return name

    def veth(self, ns1, if1, ns2, if2):
        sh("ip", "link", "add", if1, "netns", ns1, "type", "veth", "peer", "name", if2, "netns", ns2)
        for ns, dev in ((ns1, if1), (ns2, if2)):
            if self.loss:
                # One packet per skb: a veth carries a sender's GSO/TSO burst (up to 64 KiB) as
                # one skb to the next namespace, and the loss rule would drop the whole burst at
                # once, where a real link loses packets one by one.
                sh("ip", "link", "set", dev, "gso_max_segs", "1", ns=ns)
            sh("ip", "link", "set", dev, "up", ns=ns)

    def spawn(self, ns, args, **kw):
        p = subprocess.Popen(["ip", "netns", "exec", ns] + [str(a) for a in args], **kw)
        self.procs.append(p)
        return p

    # --- topology ---------------------------------------------------------------------------
    def build(self):
        inet = self.add_ns("inet")
        self.inet = inet
        sh("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=inet)
        # The services sit in their own namespace behind the internet's router, so their packets
        # are forwarded (delayed, dropped, counted) like everyone else's, never held inside the
        # sending stack (TCP small queues would stall a socket whose own packets wait in a queue).
        self.srv = self.add_ns("srv")
        self.veth(inet, "srv", self.srv, "eth0")
        sh("ip", "addr", "add", "198.51.100.1/24", "dev", "srv", ns=inet)
        for ip in (SERVER_IP, SECOND_IP, PROXY_IP):
            sh("ip", "addr", "add", ip + "/24", "dev", "eth0", ns=self.srv)
        sh("ip", "route", "add", "default", "via", "198.51.100.1", ns=self.srv)
        self.hosts = {}
        self.wan_ip = {}
        if self.samelan:
            router = self.side_router("A", self.a, link=1)
            self.hosts["A"] = self.lan_host("A", router, 1, 2)
            self.hosts["B"] = self.lan_host("B", router, 1, 3)
        else:
            for idx, (side, beh) in enumerate((("A", self.a), ("B", self.b)), start=1):
                if beh == "public":
                    self.hosts[side] = self.public_host(side, idx)
                else:
                    router = self.side_router(side, beh, link=idx)
                    self.hosts[side] = self.lan_host(side, router, idx, 2)
        self.counters()
        if self.ipv6:
            self.add_ipv6()
        if self.loss or self.rate or self.delay:
            self.impair()
        if self.mtu:
            self.narrow_links()
        if self.udp_timeout:
            for ns in self.side_routers():
                for key in ("nf_conntrack_udp_timeout", "nf_conntrack_udp_timeout_stream"):
                    sh("sysctl", "-qw", "net.netfilter.%s=%d" % (key, self.udp_timeout), ns=ns)
        if {"proxyonly", "proxyauth"} & {self.a, self.b}:
            self.start_proxy(auth="proxyauth" in (self.a, self.b))

    def link_ips(self, idx):
        base = 4 * idx
        return "203.0.113.%d" % (base + 1), "203.0.113.%d" % (base + 2)

    def public_host(self, side, idx):
        host = self.add_ns("h" + side)
        inet_ip, host_ip = self.link_ips(idx)
        self.veth(self.inet, "w" + side, host, "wan")
        sh("ip", "addr", "add", inet_ip + "/30", "dev", "w" + side, ns=self.inet)
        sh("ip", "addr", "add", host_ip + "/30", "dev", "wan", ns=host)
        sh("ip", "route", "add", "default", "via", inet_ip, ns=host)
        self.wan_ip[side] = host_ip
        return host

    def side_router(self, side, beh, link):
        router = self.add_ns("r" + side)
        inet_ip, wan_ip = self.link_ips(link)
        sh("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=router)
        if beh == "cgnat":
            # Home router (10.x LAN, 100.64.x WAN) behind a carrier router that owns the public IP.
            carrier = self.add_ns("c" + side)
            sh("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=carrier)
            self.veth(self.inet, "w" + side, carrier, "wan")
            sh("ip", "addr", "add", inet_ip + "/30", "dev", "w" + side, ns=self.inet)
            sh("ip", "addr", "add", wan_ip + "/30", "dev", "wan", ns=carrier)
            sh("ip", "route", "add", "default", "via", inet_ip, ns=carrier)
            self.veth(carrier, "cpe", router, "wan")
            sh("ip", "addr", "add", "100.64.%d.1/24" % link, "dev", "cpe", ns=carrier)
            sh("ip", "addr", "add", "100.64.%d.2/24" % link, "dev", "wan", ns=router)
            sh("ip", "route", "add", "default", "via", "100.64.%d.1" % link, ns=router)
            sh("ip", "route", "add", "10.%d.0.0/24" % link, "via", "100.64.%d.2" % link, ns=carrier)
            nft(carrier, router_rules("cone"))
            nft(router, router_rules("cone"))
        else:
            self.veth(self.inet, "w" + side, router, "wan")
            sh("ip", "addr", "add", inet_ip + "/30", "dev", "w" + side, ns=self.inet)
            sh("ip", "addr", "add", wan_ip + "/30", "dev", "wan", ns=router)
            sh("ip", "route", "add", "default", "via", inet_ip, ns=router)
            nft(router, router_rules(beh))
        self.wan_ip[side] = wan_ip
        sh("ip", "link", "add", "lan", "type", "bridge", ns=router)
        sh("ip", "link", "set", "lan", "up", ns=router)
        sh("ip", "addr", "add", "10.%d.0.1/24" % link, "dev", "lan", ns=router)
        sh("conntrack", "-F", ns=router, check=False)
        if beh == "upnp":
            self.start_miniupnpd(router, link)
        return router

    def lan_host(self, side, router, link, last):
        host = self.add_ns("h" + side)
        self.veth(router, "p" + side, host, "eth0")
        sh("ip", "link", "set", "p" + side, "master", "lan", ns=router)
        sh("ip", "addr", "add", "10.%d.0.%d/24" % (link, last), "dev", "eth0", ns=host)
        sh("ip", "route", "add", "default", "via", "10.%d.0.1" % link, ns=host)
        return host

    def add_ipv6(self):
        """IPv6 beside IPv4 on every link (see SERVER_IP6): routed, never translated; routers
        filter statefully; the internet's counters count it as they count IPv4."""
        def addr(ns, ip, dev):
            sh("ip", "-6", "addr", "add", ip, "dev", dev, "nodad", ns=ns)
        sh("sysctl", "-qw", "net.ipv6.conf.all.forwarding=1", ns=self.inet)
        addr(self.inet, "2001:db8:100::1/64", "srv")
        addr(self.srv, SERVER_IP6 + "/64", "eth0")
        sh("ip", "-6", "route", "add", "default", "via", "2001:db8:100::1", ns=self.srv)
        for idx, (side, beh) in enumerate((("A", self.a), ("B", self.b)), start=1):
            link, lan = "2001:db8:%d::" % idx, "2001:db8:%d:1::" % idx
            addr(self.inet, link + "1/64", "w" + side)
            host = self.hosts[side]
            if beh == "public":
                addr(host, link + "2/64", "wan")
                sh("ip", "-6", "route", "add", "default", "via", link + "1", ns=host)
                continue
            router = self.ns("r" + side)
            sh("sysctl", "-qw", "net.ipv6.conf.all.forwarding=1", ns=router)
            addr(router, link + "2/64", "wan")
            sh("ip", "-6", "route", "add", "default", "via", link + "1", ns=router)
            addr(router, lan + "1/64", "lan")
            addr(host, lan + "2/64", "eth0")
            sh("ip", "-6", "route", "add", "default", "via", lan + "1", ns=host)
            sh("ip", "-6", "route", "add", lan + "/64", "via", link + "2", ns=self.inet)
            nft(router, """
table ip6 fw6 {
  chain forward {
    type filter hook forward priority 0; policy drop;
    ct state established,related accept
    iifname "lan" oifname "wan" accept
    icmpv6 type { destination-unreachable, packet-too-big, time-exceeded, parameter-problem } accept
  }
}
""")
        for rule in ('ip6 saddr 2001:db8:1::/48 ip6 daddr 2001:db8:2::/48 counter name "direct"',
                     'ip6 saddr 2001:db8:2::/48 ip6 daddr 2001:db8:1::/48 counter name "direct"',
                     'ip6 daddr 2001:db8:100::/48 counter name "server"',
                     'ip6 saddr 2001:db8:100::/48 counter name "server"'):
            sh("nft", "add", "rule", "inet", "count", "count_forward", *rule.split(), ns=self.inet)

    def side_routers(self):
        """The sides' routers: home routers ("rA", "rB") and carrier routers ("cA", "cB")."""
        return [n for n in self.namespaces if n.split("-")[-1][0] in "rc"]

    def narrow_links(self):
        """Both ends of each side's WAN link carry at most self.mtu bytes: a public host knows it
        (and says so in its TCP MSS), a host behind a router does not, and finds out from the
        router's ICMP answer, unless self.blackhole drops it. No router fragments a packet that
        says not to."""
        for side in ("A", "B"):
            beh = self.a if side == "A" else self.b
            far = self.hosts[side] if beh == "public" else self.ns("c" if beh == "cgnat" else "r" + side)
            sh("ip", "link", "set", "w" + side, "mtu", self.mtu, ns=self.inet)
            sh("ip", "link", "set", "wan", "mtu", self.mtu, ns=far)
            if self.samelan:
                break
        if not self.blackhole:
            return
        # ICMP errors a router sends are its own output; the answers that would tell a sender
        # the path's MTU go nowhere.
        for ns in [self.inet] + self.side_routers():
            nft(ns, """
table inet blackhole {
  chain out {
    type filter hook output priority 0; policy accept;
    icmp type destination-unreachable icmp code frag-needed counter drop
    icmpv6 type packet-too-big counter drop
  }
}
""")

    def counters(self):
        nft(self.inet, """
table inet count {
  counter direct {
  }
  counter server {
  }
  chain count_forward {
    type filter hook forward priority 0; policy accept;
    ip saddr 203.0.113.0/24 ip daddr 203.0.113.0/24 counter name "direct"
    ip daddr 198.51.100.0/24 counter name "server"
    ip saddr 198.51.100.0/24 counter name "server"
  }
}
""")

    def impair(self):
        # Loss is on each side's access link, both ways, half of it each way on each link: a
        # packet between the peers crosses two of them (A's uplink, B's downlink), directly or
        # through the server (whose link is clean), so a direct and a relayed path lose alike.
        # Dropped before the delay queue (mangle, priority -150) sees them.
        if self.loss:
            sides = '{ "wA", "wB" }'
            nft(self.inet, "\n".join([
                "table inet impair {",
                "  chain impair_in {",
                "    type filter hook prerouting priority -300; policy accept;",
                "    iifname %s numgen random mod 2000 < %d drop" % (sides, self.loss),
                "  }",
                "  chain impair_out {",
                "    type filter hook postrouting priority -300; policy accept;",
                "    oifname %s numgen random mod 2000 < %d drop" % (sides, self.loss),
                "  }",
                "}", ""]))
        if self.rate:
            for side in ("A", "B"):
                dev = "w" + side
                sh("tc", "qdisc", "add", "dev", dev, "root", "tbf", "rate", "%dmbit" % self.rate,
                   "burst", "256kb", "latency", "50ms", ns=self.inet, check=False)
        if self.delay:
            self.start_delay()

    def start_delay(self):
        """Each side's link holds packets delay_ms each way: the internet's router queues what
        comes in from a side (prerouting) and what goes out to it (postrouting) to the daemon.
        Forwarded packets only ever wait in a router, never in a sending host's own stack."""
        if not os.access(LAB_DELAY, os.X_OK):
            raise RuntimeError("the lab's delay daemon is missing (%s): install libnetfilter-queue-dev "
                               "and build (scripts/setup.sh)" % LAB_DELAY)
        daemon = self.spawn(self.inet, [LAB_DELAY, DELAY_QUEUE, self.delay], stdout=subprocess.PIPE,
                            text=True)
        if daemon.stdout.readline().strip() != "ready":
            raise RuntimeError("the lab's delay daemon did not start")
        for side in ("A", "B"):
            dev = "w" + side
            for chain, way in (("PREROUTING", "-i"), ("POSTROUTING", "-o")):
                sh("iptables", "-t", "mangle", "-A", chain, way, dev, "-j", "NFQUEUE", "--queue-num",
                   DELAY_QUEUE, ns=self.inet)

    def read_counters(self):
        data = json.loads(sh("nft", "-j", "list", "counters", ns=self.inet, capture=True))
        out = {}
        for item in data["nftables"]:
            c = item.get("counter")
            if c and c.get("table") == "count":
                out[c["name"]] = c["bytes"]
        return out

    def reset_counters(self):
        sh("nft", "reset", "counters", "table", "inet", "count", ns=self.inet)

    # --- services in the internet namespace -------------------------------------------------
    def env(self, side):
        """The environment a host's programs get: proxy-only networks name their proxy."""
        beh = self.a if side == "A" else self.b
        env = dict(os.environ)
        for k in ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"):
            env.pop(k, None)
        if beh == "proxyonly":
            env["https_proxy"] = "http://%s:3128" % PROXY_IP
        elif beh == "proxyauth":
            env["https_proxy"] = "http://%s:%s@%s:3128" % (PROXY_USER, PROXY_PASSWORD, PROXY_IP)
        return env

    def start_proxy(self, auth=False):
        conf = os.path.join(self.tmp, "tinyproxy.conf")
        log = os.path.join(self.tmp, "tinyproxy.log")
        open(log, "w").close()
        os.chmod(log, 0o666)
        with open(conf, "w") as f:
            f.write("User nobody\nGroup nogroup\nPort 3128\nListen %s\nTimeout 600\nLogLevel Info\n"
                    "LogFile \"%s\"\nMaxClients 50\nAllow 203.0.113.0/24\nAllow 10.0.0.0/8\n"
                    "ConnectPort 443\nConnectPort 4300\nConnectPort 80\n" % (PROXY_IP, log))
            if auth:
                f.write("BasicAuth %s %s\n" % (PROXY_USER, PROXY_PASSWORD))
        self.spawn(self.srv, ["tinyproxy", "-d", "-c", conf], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
        wait_tcp(self.srv, PROXY_IP, 3128)

    def start_miniupnpd(self, router, link):
        # stund on two addresses so miniupnpd's STUN test classifies the WAN as unfiltered.
        if not getattr(self, "stund", None):
            self.stund = self.spawn(self.srv, ["stund", "-h", SERVER_IP, "-a", SECOND_IP],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.3)
        conf = os.path.join(self.tmp, "miniupnpd-%s.conf" % router)
        with open(conf, "w") as f:
            f.write("""ext_ifname=wan
ext_perform_stun=yes
ext_stun_host=%s
ext_stun_port=3478
listening_ip=lan
http_port=2189
enable_upnp=yes
enable_natpmp=yes
secure_mode=yes
system_uptime=yes
lease_file=%s/upnp.leases
uuid=3d3cec3a-8cf0-11e0-98ee-001a6bd2d07b
upnp_table_name=filter
upnp_nat_table_name=filter
upnp_forward_chain=miniupnpd
upnp_nat_chain=prerouting_miniupnpd
upnp_nat_postrouting_chain=postrouting_miniupnpd
allow 1024-65535 10.%d.0.0/24 1024-65535
deny 0-65535 0.0.0.0/0 0-65535
""" % (SERVER_IP, self.tmp, link))
        self.upnp_log = os.path.join(self.tmp, "miniupnpd.log")
        self.spawn(router, ["/usr/sbin/miniupnpd", "-f", conf, "-d"], stdout=open(self.upnp_log, "w"),
                   stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while time.time() < deadline:
            with open(self.upnp_log) as f:
                text = f.read()
            if "Listening for NAT-PMP/PCP traffic" in text:
                return
            time.sleep(0.1)
        raise RuntimeError("miniupnpd did not become ready:\n" + text[-2000:])


def router_rules(beh):
    """nftables for one router. WAN is "wan"; every router drops unsolicited packets to itself."""
    if beh == "upnp":
        # The chains miniupnpd-nftables 2.3.1 expects (it adds rules, never creates chains).
        return """
table inet filter {
  chain input {
    type filter hook input priority 0; policy accept;
    iifname "wan" ct state established,related accept
    iifname "wan" udp sport { 3478, 3479 } accept comment "miniupnpd's STUN self-test"
    iifname "wan" ct state new drop
  }
  chain forward {
    type filter hook forward priority 0; policy drop;
    ct state established,related accept
    iifname "lan" oifname "wan" accept
    jump miniupnpd
  }
  chain miniupnpd {
  }
  chain prerouting {
    type nat hook prerouting priority -100; policy accept;
    jump prerouting_miniupnpd
  }
  chain postrouting {
    type nat hook postrouting priority 100; policy accept;
    jump postrouting_miniupnpd
    oifname "wan" meta nfproto ipv4 masquerade
  }
  chain prerouting_miniupnpd {
  }
  chain postrouting_miniupnpd {
  }
}
"""
    masq = "masquerade fully-random" if beh == "symmetric" else "masquerade"
    policy, forward = "accept", ""
    if beh == "udpblock":
        forward = "meta l4proto udp drop"
    if beh in ("proxyonly", "proxyauth"):
        policy = "drop"
        forward = ('ct state established,related accept\n'
                   '    iifname "lan" ip daddr %s tcp dport 3128 accept' % PROXY_IP)
    fullcone = ""
    if beh == "fullcone":
        fullcone = """
  map fc {
    type inet_service : ipv4_addr . inet_service
    flags dynamic,timeout
    timeout 5m
  }
  chain pre {
    type nat hook prerouting priority -100; policy accept;
    iifname "wan" meta l4proto udp dnat ip to udp dport map @fc
  }
  chain learn {
    type filter hook postrouting priority 110; policy accept;
    oifname "wan" meta l4proto udp update @fc { udp sport : ct original ip saddr . ct original proto-src }
  }
"""
    return """
table ip lab {
  chain input {
    type filter hook input priority 0; policy accept;
    iifname "wan" ct state new drop
  }
  chain forward {
    type filter hook forward priority 0; policy %s;
    %s
  }
  chain post {
    type nat hook postrouting priority 100; policy accept;
    oifname "wan" %s
  }
%s}
""" % (policy, forward, masq, fullcone)


def wait_tcp(ns, ip, port, timeout=5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        p = sh("python3", "-c", "import socket; socket.create_connection(('%s', %d), 0.5).close()" % (ip, port),
               ns=ns, check=False)
        if p.returncode == 0:
            return
        time.sleep(0.1)
    raise RuntimeError("nothing listens on %s:%d in %s" % (ip, port, ns))


# --- what the scenario scripts share ---------------------------------------------------------
def root_or_skip():
    """Whether the lab can run (root, for network namespaces). In CI a missing root fails the
    run; elsewhere the script says SKIPPED and exits 0."""
    if os.geteuid() == 0:
        return True
    if os.environ.get("CI") == "true":
        sys.exit("the lab needs root (network namespaces)")
    print("SKIPPED: the lab needs root for network namespaces")
    return False


def start_server(lab, *extra):
    """ferry serve in the internet namespace; returns its URL once it listens. In a lab with
    IPv6 it listens on both families and its URL is the IPv6 one (as dual-stack clients prefer)."""
    listen, url = ("[::]:4300", SERVER_URL6) if lab.ipv6 else (SERVER_IP + ":4300", SERVER_URL)
    lab.spawn(lab.srv, [FERRY, "serve", "--listen", listen, "--public-url", url]
              + list(extra), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_tcp(lab.srv, SERVER_IP, 4300)
    return url


def payload(lab, size):
    """A random file of size bytes to send, and an empty folder to receive into."""
    src = os.path.join(lab.tmp, "payload.bin")
    with open(src, "wb") as f:
        left = size
        while left:
            n = min(left, 1 << 20)
            f.write(os.urandom(n))
            left -= n
    out = os.path.join(lab.tmp, "received")
    os.makedirs(out, exist_ok=True)
    return src, out


def ferry(lab, side, args, env=None, stdin=None):
    """A ferry client on host side ("A" or "B") with its stdout/stderr piped (text)."""
    return lab.spawn(lab.hosts[side], [FERRY] + list(args), stdin=stdin, stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE, text=True, env=env if env is not None else lab.env(side))


def wait_for_code(sender):
    """The code from a `send --json` process's events (None if it exits first)."""
    for line in sender.stdout:
        ev = json.loads(line)
        if ev["event"] == "code":
            return ev["code"]
    return None
