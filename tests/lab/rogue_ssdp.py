#!/usr/bin/env python3
"""A rogue host on the LAN answers SSDP searches before the router does, naming itself as the
Internet gateway device (docs/protocol.md, threat model: SSDP answers only from the gateway).
Host A sits behind a UPnP router (real miniupnpd); the rogue (10.1.0.7, same LAN) answers every
M-SEARCH at once with a LOCATION on itself, and a second answer that forges the gateway's
LOCATION from its own address. `ferry doctor` on A must still map ports through the real router
(UPnP-IGD, NAT-PMP and PCP) and must never fetch anything from the rogue; the rogue's own log
shows that it was heard and answered, so the test would see a client that believed it.
Exit 0 when that holds.
  rogue_ssdp.py                  the test (needs root)
  rogue_ssdp.py --rogue LOG      the rogue itself (run in its namespace by the test)"""
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lab import FERRY, Lab, SERVER_IP, SERVER_URL, root_or_skip, sh, wait_tcp  # noqa: E402

ROGUE_IP = "10.1.0.7"
GATEWAY_IP = "10.1.0.1"
HTTP_PORT = 5000


def rogue(log_path):
    log = open(log_path, "a", buffering=1)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            log.write("http %s\n" % self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    http = HTTPServer((ROGUE_IP, HTTP_PORT), Handler)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("", 1900))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                 struct.pack("4s4s", socket.inet_aton("239.255.255.250"), socket.inet_aton(ROGUE_IP)))
    log.write("ready\n")
    while True:
        data, sender = s.recvfrom(2048)
        if not data.startswith(b"M-SEARCH"):
            continue
        st = next((l.split(b":", 1)[1].strip() for l in data.split(b"\r\n")
                   if l.lower().startswith(b"st:")), b"upnp:rootdevice")
        for location in ("http://%s:%d/rootDesc.xml" % (ROGUE_IP, HTTP_PORT),
                         "http://%s:2189/rootDesc.xml" % GATEWAY_IP):
            answer = ("HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: %s\r\nUSN: uuid:rogue::%s\r\n"
                      "EXT:\r\nSERVER: rogue/1.0 UPnP/1.1\r\nLOCATION: %s\r\n\r\n"
                      % (st.decode(), st.decode(), location))
            s.sendto(answer.encode(), sender)
        log.write("answered %s\n" % sender[0])


def main():
    if not root_or_skip():
        return 0
    with Lab("upnp", "public") as lab:
        rogue_ns = lab.lan_host("R", lab.ns("rA"), 1, 7)
        # Hosts on one LAN hear each other, as on a home router's switch: bridged packets pass the
        # router's forward chain where br_netfilter is loaded, and multicast floods every port.
        sh("nft", "insert", "rule", "inet", "filter", "forward", "iifname", "lan", "oifname", "lan",
           "accept", ns=lab.ns("rA"))
        sh("ip", "link", "set", "lan", "type", "bridge", "mcast_snooping", "0", ns=lab.ns("rA"))
        log_path = os.path.join(lab.tmp, "rogue.log")
        open(log_path, "w").close()
        lab.spawn(rogue_ns, [sys.executable, os.path.abspath(__file__), "--rogue", log_path])
        deadline = time.time() + 5
        while "ready" not in open(log_path).read() and time.time() < deadline:
            time.sleep(0.05)
        lab.spawn(lab.srv, [FERRY, "serve", "--listen", SERVER_IP + ":4300", "--public-url", SERVER_URL],
                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_tcp(lab.srv, SERVER_IP, 4300)
        p = lab.spawn(lab.hosts["A"], [FERRY, "doctor", "--json", "--server", SERVER_URL],
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=lab.env("A"))
        out, err = p.communicate(timeout=60)
        time.sleep(0.3)
        rogue_log = open(log_path).read()
    report = json.loads(out)
    mapping = next((c for c in report["checks"] if c["name"] == "port-mapping"), {})
    answered = rogue_log.count("answered")
    fetched = [l for l in rogue_log.splitlines() if l.startswith("http")]
    print("port mapping: %s" % mapping.get("detail"))
    print("the rogue answered %d searches; was asked for %d documents" % (answered, len(fetched)))
    problems = []
    if not answered:
        problems.append("the rogue never heard a search (the test would not see a client fooled)")
    if fetched:
        problems.append("ferry fetched from the rogue: %s" % fetched)
    if mapping.get("status") != "ok" or not all(m + " maps" in mapping.get("detail", "")
                                                 for m in ("UPnP-IGD", "NAT-PMP", "PCP")):
        problems.append("the port mapping through the real router should still work")
    for p in problems:
        print("PROBLEM:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--rogue":
        rogue(sys.argv[2])
    else:
        sys.exit(main())
