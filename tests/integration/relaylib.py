"""The relay's wire protocol from the outside (docs/protocol.md): grants signed with a known key,
hellos, status bytes and the relay's frames, over raw TCP or a WebSocket. Stdlib only."""
import hashlib
import os
import socket
import struct
import time

from wsclient import WebSocket

WAITING, PAIRED, USED, SIDE_TAKEN, TIMEOUT, MALFORMED, LIMIT, EXPIRED, FORGED = 6, 0, 1, 2, 3, 4, 5, 7, 8


def new_key_file(directory):
    key = os.urandom(32)
    path = os.path.join(directory, "relay.key")
    with open(path, "w") as f:
        f.write(key.hex() + "\n")
    return key, path


def sign_grant(key, session=None, expires=None):
    session = session or os.urandom(16)
    expires = int(time.time()) + 600 if expires is None else expires
    body = session + struct.pack("!Q", expires)
    mac = hashlib.blake2b(b"ferry relay grant v1" + body, key=key, digest_size=16).digest()
    return body + mac


def hello(side, grant, version=2):
    return b"FRLY" + bytes([version]) + side + grant


class RawRelay:
    """One raw TCP connection to the relay."""

    def __init__(self, port, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def status(self):
        return self._read(1)[0]

    def frame(self):
        """('data', bytes) or ('end', status, text)."""
        (h,) = struct.unpack("!I", self._read(4))
        body = self._read(h & 0x7FFFFFFF)
        if h & 0x80000000:
            return ("end", body[0], body[1:].decode())
        return ("data", body)

    def read_data(self, n):
        got = b""
        while len(got) < n:
            f = self.frame()
            if f[0] != "data":
                raise AssertionError("relay ended: %r" % (f,))
            got += f[1]
        return got

    def closed(self):
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def close(self):
        self.sock.close()


class RelayEnded(Exception):
    def __init__(self, code, text):
        super().__init__("relay closed with %d: %s" % (code, text))
        self.code, self.text = code, text


class WsRelay:
    """One WebSocket connection to the relay (/v1/relay)."""

    def __init__(self, port, timeout=10):
        self.ws = WebSocket(port, "/v1/relay", timeout=timeout)
        self.pending = b""

    def send(self, data):
        self.ws.send_frame(0x2, data)

    def status(self):
        op, payload = self.ws.recv()
        if op == 8:
            raise AssertionError("closed: %r" % (payload,))
        assert op == 2 and len(payload) == 1, (op, payload)
        return payload[0]

    def close_reason(self):
        op, payload = self.ws.recv()
        assert op == 8, (op, payload)
        return struct.unpack("!H", payload[:2])[0], payload[2:].decode()

    def read_data(self, n):
        while len(self.pending) < n:
            op, payload = self.ws.recv()
            if op == 8:
                raise RelayEnded(struct.unpack("!H", payload[:2])[0], payload[2:].decode())
            if op not in (0, 2):  # binary, or its continuation
                raise AssertionError("relay ended: %r %r" % (op, payload[:200]))
            self.pending += payload
        out, self.pending = self.pending[:n], self.pending[n:]
        return out

    def close(self):
        self.ws.close()


def http_get(port, path, timeout=10):
    """Sends GET path; returns (status, socket, bytes of the body read with the head)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (path, port)).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed before the response head")
        head += chunk
    head, rest = head.split(b"\r\n\r\n", 1)
    return int(head.split(b" ")[1]), sock, rest


class SplitRelay(WsRelay):
    """A browser's split relay connection: statuses and its own bytes on the WebSocket
    /v1/relay?down=<ticket>, the bytes for it as the body of GET /v1/relay/down/<ticket>."""

    def __init__(self, port, timeout=10, ticket=None, get=True):
        self.ticket = ticket or os.urandom(16).hex()
        self.ws = WebSocket(port, "/v1/relay?down=" + self.ticket, timeout=timeout)
        self.pending = b""
        self.body = None
        if get:
            status, self.body, self.pending = http_get(port, "/v1/relay/down/" + self.ticket, timeout)
            assert status == 200, status

    def read_data(self, n):
        while len(self.pending) < n:
            chunk = self.body.recv(1 << 16)
            if not chunk:  # the body ended: the reason, if any, is the WebSocket's close frame
                raise RelayEnded(*self.close_reason())
            self.pending += chunk
        out, self.pending = self.pending[:n], self.pending[n:]
        return out

    def body_ended(self):
        try:
            return self.body.recv(1) == b""
        except ConnectionResetError:
            return True

    def close(self):
        self.ws.close()
        if self.body:
            self.body.close()


def pair(port, grant, sender_cls=RawRelay, receiver_cls=RawRelay):
    s, r = sender_cls(port), receiver_cls(port)
    s.send(hello(b"S", grant))
    assert s.status() == WAITING
    r.send(hello(b"R", grant))
    assert r.status() == WAITING
    assert s.status() == PAIRED
    assert r.status() == PAIRED
    return s, r


CHALLENGE = 10


def udp_bind(side, grant, cookie=bytes(16), magic=b"\x00FRB"):
    """A bind datagram for the relay over UDP (proto/relay_udp.hpp)."""
    return magic + bytes([1]) + side + grant + cookie


def udp_unbind(side, grant):
    """An unbind: the bind's layout under its own magic (no cookie needed)."""
    return udp_bind(side, grant, magic=b"\x00FRU")


class UdpRelay:
    """One UDP socket talking to the relay over UDP."""

    def __init__(self, port, timeout=3):
        self.port = port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(timeout)

    def send(self, data):
        self.sock.sendto(data, ("127.0.0.1", self.port))

    def recv(self):
        """The next datagram from the relay, or None after the timeout."""
        try:
            data, _ = self.sock.recvfrom(65536)
            return data
        except socket.timeout:
            return None

    def answer(self):
        """(status, cookie) of the relay's next answer; None after the timeout."""
        data = self.recv()
        if data is None:
            return None
        assert len(data) == 21 and data[:4] == b"\x00FRA", data
        return data[4], data[5:]

    def bind(self, side, grant):
        """Binds with the cookie the relay asks for; returns the status after."""
        self.send(udp_bind(side, grant))
        status, cookie = self.answer()
        assert status == CHALLENGE, status
        self.send(udp_bind(side, grant, cookie))
        return self.answer()[0]

    def close(self):
        self.sock.close()
