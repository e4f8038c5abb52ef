#!/usr/bin/env python3
"""The floor under the relay's CPU figure: the least a process can spend forwarding bytes between
two TCP connections on this kernel. Accepts one connection on 127.0.0.1:PORT (0: any; the port
is printed), connects to
127.0.0.1:TARGET, and moves the bytes both ways with splice(2) through a pipe of CHUNK bytes (the
relay's own way, without its protocol, limits or event loop), one blocking thread per direction;
exits when both directions have ended.
usage: splice_forward.py PORT TARGET [CHUNK]"""
import fcntl
import os
import socket
import sys
import threading

F_SETPIPE_SZ = 1031


def pump(src, dst, chunk):
    r, w = os.pipe()
    try:
        fcntl.fcntl(w, F_SETPIPE_SZ, chunk)
    except OSError:
        pass
    while True:
        n = os.splice(src.fileno(), w, chunk)
        if n == 0:
            break
        while n > 0:
            n -= os.splice(r, dst.fileno(), n)
    dst.shutdown(socket.SHUT_WR)


def main():
    port, target = int(sys.argv[1]), int(sys.argv[2])
    chunk = int(sys.argv[3]) if len(sys.argv) > 3 else 256 * 1024
    listener = socket.create_server(("127.0.0.1", port))
    print(listener.getsockname()[1], flush=True)
    a, _ = listener.accept()
    b = socket.create_connection(("127.0.0.1", target))
    threads = [threading.Thread(target=pump, args=(x, y, chunk)) for x, y in ((a, b), (b, a))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
