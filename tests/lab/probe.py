#!/usr/bin/env python3
"""Lab self-check helpers, run inside namespaces.
  probe.py reflect                  (internet) UDP on .10:5001 and .11:5002 answer "ip:port";
                                    "poke" makes .11:5003, never contacted, send to the mapping;
                                    TCP on .10:80 answers "ip:port".
  probe.py probe PROXY_IP           (host) prints a JSON verdict of what it saw.
  probe.py listen PORT              (host) TCP listener answering "hello", for mapped-port checks.
  probe.py connect IP PORT          prints what a TCP server answered, or "failed"."""
import json
import socket
import sys
import threading

SERVER, SECOND = "198.51.100.10", "198.51.100.11"


def reflect():
    u1 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u1.bind((SERVER, 5001))
    u2 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u2.bind((SECOND, 5002))
    u3 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u3.bind((SECOND, 5003))

    def udp(sock):
        while True:
            data, addr = sock.recvfrom(2048)
            text = ("%s:%d" % addr).encode()
            if data == b"poke":
                u3.sendto(b"poked", addr)
            else:
                sock.sendto(text, addr)

    def tcp():
        t = socket.socket()
        t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        t.bind((SERVER, 80))
        t.listen(16)
        while True:
            c, addr = t.accept()
            c.sendall(("%s:%d" % addr).encode())
            c.close()

    for target, arg in ((udp, u1), (udp, u2), (tcp, None)):
        threading.Thread(target=target, args=(arg,) if arg else (), daemon=True).start()
    threading.Event().wait()


def ask(sock, msg, dest):
    sock.sendto(msg, dest)
    try:
        data, src = sock.recvfrom(2048)
        return data.decode(), src
    except socket.timeout:
        return None, None


def tcp_fetch(ip, port, timeout=2):
    try:
        c = socket.create_connection((ip, port), timeout)
        data = c.recv(100).decode()
        c.close()
        return data
    except OSError:
        return None


def via_proxy(proxy):
    try:
        c = socket.create_connection((proxy, 3128), 2)
        c.sendall(b"CONNECT %s:80 HTTP/1.1\r\nHost: %s:80\r\n\r\n" % (SERVER.encode(), SERVER.encode()))
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = c.recv(1)
            if not chunk:
                return None
            head += chunk
        if b" 200 " not in head.split(b"\r\n")[0] + b" ":
            return None
        return c.recv(100).decode()
    except OSError:
        return None


def probe(proxy):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", 40000))
    s.settimeout(1)
    m1, _ = ask(s, b"who", (SERVER, 5001))
    m2, _ = ask(s, b"who", (SECOND, 5002))
    poked = None
    if m1:
        poked_msg, src = ask(s, b"poke", (SERVER, 5001))
        poked = poked_msg == "poked"
    print(json.dumps({"m1": m1, "m2": m2, "poked": poked, "tcp_direct": tcp_fetch(SERVER, 80),
                      "tcp_proxy": via_proxy(proxy)}))


def listen(port):
    t = socket.socket()
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.bind(("0.0.0.0", port))
    t.listen(4)
    print("ready", flush=True)
    while True:
        c, _ = t.accept()
        c.sendall(b"hello")
        c.close()


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "reflect":
        reflect()
    elif cmd == "probe":
        probe(sys.argv[2])
    elif cmd == "listen":
        listen(int(sys.argv[2]))
    elif cmd == "connect":
        print(tcp_fetch(sys.argv[2], int(sys.argv[3])) or "failed")
