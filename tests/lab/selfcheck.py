#!/usr/bin/env python3
"""Self-check of one router behaviour: proves the lab's NAT behaves as named, so a broken lab can
never pass ferry. Builds the behaviour on side A (B public), runs probe.py, checks the verdict."""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lab import BEHAVIOURS, Lab, PROXY_IP, SERVER_IP6, root_or_skip, sh, wait_tcp  # noqa: E402

PROBE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "probe.py")


# A TCP listener on [::]:PORT that answers each connection with the peer's address, and a client
# that prints the answer ("failed" when it cannot connect within 1.5 s).
LISTEN6 = ("import socket\nt = socket.socket(socket.AF_INET6)\nt.setsockopt(socket.SOL_SOCKET, "
           "socket.SO_REUSEADDR, 1)\nt.bind(('::', %d))\nt.listen()\nprint('ready', flush=True)\n"
           "while True:\n    c, a = t.accept()\n    c.sendall(a[0].encode())\n    c.close()\n")
# Up to `tries` attempts 0.3 s apart: a namespace's first IPv6 packets can meet a neighbour entry
# not yet resolved (seen once in CI as an immediate failure on a loaded machine).
CONNECT6 = ("import socket, time\nfor i in range(%d):\n    try:\n"
            "        c = socket.create_connection(('%s', %d), 1.5)\n"
            "        print(c.recv(100).decode())\n        break\n    except OSError:\n"
            "        time.sleep(0.3)\nelse:\n    print('failed')\n")


def check_ipv6(lab, beh, expect):
    """IPv6 beside the NAT: the host's global address goes out untranslated, and behind a router
    nothing from outside gets in unless it answers what the host started (stateful firewall)."""
    host = lab.hosts["A"]
    own = "2001:db8:1::2" if beh == "public" else "2001:db8:1:1::2"
    for ns, port in ((lab.srv, 5007), (host, 5006)):
        p = lab.spawn(ns, ["python3", "-c", LISTEN6 % port], stdout=subprocess.PIPE, text=True)
        p.stdout.readline()
    out = sh("python3", "-c", CONNECT6 % (5, SERVER_IP6, 5007), ns=host, capture=True).strip()
    # Retried only where it must get through (a firewall's drop costs a timeout per attempt).
    tries = 5 if beh == "public" else 1
    inbound = sh("python3", "-c", CONNECT6 % (tries, own, 5006), ns=lab.srv,
                 capture=True).strip()
    print("  IPv6: out as %s, in from the internet: %s" % (out, inbound))
    expect(out == own, "IPv6 must go out untranslated from %s (the server saw %s)" % (own, out))
    if beh == "public":
        expect(inbound != "failed", "a public IPv6 host must be reachable")
    else:
        expect(inbound == "failed", "the router must drop unsolicited IPv6 connections")


def check(beh):
    failures = []

    def expect(cond, what):
        if not cond:
            failures.append(what)

    with Lab(beh, "public", ipv6=beh != "cgnat") as lab:
        lab.spawn(lab.srv, ["python3", PROBE, "reflect"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_tcp(lab.srv, "198.51.100.10", 80)
        time.sleep(0.2)
        host = lab.hosts["A"]
        v = json.loads(sh("python3", PROBE, "probe", PROXY_IP, ns=host, capture=True))
        wan = lab.wan_ip["A"]
        m1, m2 = v["m1"], v["m2"]
        print("%s: %s (WAN %s)" % (beh, json.dumps(v), wan))
        if beh in ("udpblock", "proxyonly", "proxyauth"):
            expect(m1 is None and m2 is None, "UDP must be blocked")
        else:
            expect(m1 is not None and m2 is not None, "UDP must pass")
        if beh == "proxyonly":
            expect(v["tcp_direct"] is None, "direct TCP must be blocked")
            expect(v["tcp_proxy"] is not None, "TCP through the CONNECT proxy must work")
        elif beh == "proxyauth":
            expect(v["tcp_direct"] is None, "direct TCP must be blocked")
            expect(v["tcp_proxy"] is None, "the proxy must refuse a CONNECT without credentials")
        else:
            expect(v["tcp_direct"] is not None, "direct TCP must work")
        if m1 and m2:
            ip1, port1 = m1.split(":")
            ip2, port2 = m2.split(":")
            expect(ip1 == wan and ip2 == wan, "the external address must be the WAN address %s" % wan)
            if beh == "symmetric":
                expect(port1 != port2, "a symmetric NAT maps each destination to a new port")
            else:
                expect(m1 == m2, "mapping must be endpoint-independent")
            if beh in ("cone", "udpblock", "cgnat", "upnp"):
                expect(port1 == "40000", "a cone NAT preserves the port")
                expect(v["poked"] is False, "unsolicited UDP from an unknown address must be filtered")
            if beh in ("fullcone", "public"):
                expect(v["poked"] is True, "unsolicited UDP to the mapping must get through")
            if beh == "public":
                expect(port1 == "40000", "no NAT: the port is the host's own")
        if beh == "upnp":
            listener = lab.spawn(host, ["python3", PROBE, "listen", "5005"], stdout=subprocess.PIPE, text=True)
            listener.stdout.readline()
            before = sh("python3", PROBE, "connect", wan, "5005", ns=lab.inet, capture=True).strip()
            expect(before == "failed", "a port must be closed before it is mapped")
            add = sh("upnpc", "-i", "-e", "lab", "-a", "10.1.0.2", "5005", "5005", "TCP", ns=host, check=False)
            expect(add.returncode == 0, "upnpc must map a port: " + add.stdout[-300:])
            after = sh("python3", PROBE, "connect", wan, "5005", ns=lab.inet, capture=True).strip()
            expect(after == "hello", "the mapped port must reach the host")
            sh("upnpc", "-i", "-d", "5005", "TCP", ns=host, check=False)
        if lab.ipv6:
            check_ipv6(lab, beh, expect)
    for f in failures:
        print("  FAIL: " + f)
    print("%s router self-check: %s" % (beh, "PASS" if not failures else "FAIL"))
    return not failures


def main():
    beh = sys.argv[1]
    if beh not in BEHAVIOURS:
        sys.exit("unknown behaviour")
    if not root_or_skip():
        sys.exit(0)
    sys.exit(0 if check(beh) else 1)


if __name__ == "__main__":
    main()
