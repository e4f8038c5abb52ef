#!/usr/bin/env python3
"""`ferry doctor` classifies each lab router correctly: the router behaviour on side A, the ferry
server answering STUN on two ports of two addresses in the internet namespace; doctor runs on
host A and its --json "nat" verdict must match what the router is (docs/scenarios.md). Exit 0 if so.
`doctor_nat.py ipv6`: a global IPv6 address behind a stateful firewall, described as such."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lab import SECOND_IP, SERVER_IP, Lab, start_server, wait_tcp  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FERRY = os.environ.get("FERRY_BIN", os.path.join(ROOT, "build", "release", "src", "cli", "ferry"))

EIM, DEP = "endpoint-independent", "address-and-port-dependent"
# behaviour -> what the "nat" object must say (keys absent from a row are not checked)
EXPECTED = {
    "public": {"udp_blocked": False, "behind_nat": False, "mapping": "none"},
    "cone": {"udp_blocked": False, "behind_nat": True, "mapping": EIM, "filtering": DEP,
             "port_preserved": True},
    "fullcone": {"udp_blocked": False, "behind_nat": True, "mapping": EIM, "filtering": EIM},
    "symmetric": {"udp_blocked": False, "behind_nat": True, "mapping": DEP},
    "udpblock": {"udp_blocked": True},
    "proxyonly": {"udp_blocked": True},
    "cgnat": {"udp_blocked": False, "behind_nat": True, "mapping": EIM, "filtering": DEP},
    "upnp": {"udp_blocked": False, "behind_nat": True, "mapping": EIM},
}
# behaviour -> the methods the port-mapping check must report working (none: the check says so)
MAPPING = {"upnp": ("UPnP-IGD", "NAT-PMP", "PCP")}


def main_ipv6():
    """A host with a global IPv6 address behind a stateful firewall (its IPv4 behind a symmetric
    NAT), the server reached over IPv6: doctor must not call it reachable directly, and must say
    that only replies get in (so peers meet it by punching)."""
    with Lab("symmetric", "public", ipv6=True) as lab:
        url = start_server(lab)
        p = lab.spawn(lab.hosts["A"], [FERRY, "doctor", "--json", "--server", url],
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=lab.env("A"))
        out, err = p.communicate(timeout=60)
    report = json.loads(out)
    nat = report.get("nat", {})
    said = {c["name"]: c["detail"] for c in report["checks"]}
    print("ipv6: %s\n  %s\n  %s" % (json.dumps(nat), said.get("addresses"), said.get("udp")))
    wrong = [k for k, v in {"udp_blocked": False, "behind_nat": False, "filtering": DEP}.items()
             if nat.get(k) != v]
    if "global IPv6 address" not in said.get("addresses", "") or \
            "can connect to it directly" in said.get("addresses", ""):
        wrong.append("addresses: a firewalled global IPv6 address is not 'reachable directly'")
    if "admits only replies" not in said.get("udp", ""):
        wrong.append("udp: the firewall admits only replies")
    for w in wrong:
        print("FAIL: %s" % w)
    return 1 if wrong else 0


def main(beh):
    with Lab(beh, "public") as lab:
        lab.spawn(lab.srv, [FERRY, "serve", "--listen", SERVER_IP + ":4300", "--public-url",
                             "http://%s:4300" % SERVER_IP, "--stun-alternate-ip", SECOND_IP],
                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_tcp(lab.srv, SERVER_IP, 4300)
        p = lab.spawn(lab.hosts["A"], [FERRY, "doctor", "--json", "--server",
                                       "http://%s:4300" % SERVER_IP],
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=lab.env("A"))
        out, err = p.communicate(timeout=60)
    report = json.loads(out)
    nat = report.get("nat", {})
    udp = next((c for c in report["checks"] if c["name"] == "udp"), {})
    print("%s: %s\n  %s" % (beh, json.dumps(nat), udp.get("detail")))
    wrong = {k: (nat.get(k), v) for k, v in EXPECTED[beh].items() if nat.get(k) != v}
    for k, (got, want) in wrong.items():
        print("FAIL: %s is %r, want %r" % (k, got, want))
    relay_udp = next((c for c in report["checks"] if c["name"] == "relay-udp"), {})
    print("  relay over UDP: %s" % relay_udp.get("detail"))
    want = "failed" if EXPECTED[beh]["udp_blocked"] else "ok"
    if relay_udp.get("status") != want:
        print("FAIL: the relay-udp check is %r, want %r" % (relay_udp.get("status"), want))
        wrong["relay-udp"] = True
    mapping = next((c for c in report["checks"] if c["name"] == "port-mapping"), {})
    print("  port mapping: %s" % mapping.get("detail"))
    methods = MAPPING.get(beh, ())
    if methods and (mapping.get("status") != "ok" or
                    not all(m + " maps" in mapping.get("detail", "") for m in methods)):
        print("FAIL: the port-mapping check should find %s working" % ", ".join(methods))
        wrong["port-mapping"] = True
    if not methods and mapping.get("status") != "info":
        print("FAIL: the port-mapping check should find no router that maps ports")
        wrong["port-mapping"] = True
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main_ipv6() if sys.argv[1] == "ipv6" else main(sys.argv[1]))
