#!/usr/bin/python3
"""Writes tests/data/wormhole_vectors.json from magic-wormhole's own code (Debian's
magic-wormhole 0.12 and python3-spake2 0.8): the SPAKE2 and key-schedule values
tests/proto/wormhole_*_test.cpp must reproduce. Run it again only to add vectors."""
import hashlib
import json
import os
import sys
from binascii import hexlify

from nacl.secret import SecretBox
from spake2 import SPAKE2_Symmetric
from spake2.ed25519_basic import scalar_to_bytes
from spake2.parameters.ed25519 import ParamsEd25519
from wormhole._key import derive_key, derive_phase_key
from wormhole.transit import (build_receiver_handshake, build_sender_handshake,
                              build_sided_relay_handshake)
from wormhole.util import HKDF

APPID = b"lothar.com/wormhole/text-or-file-xfer"


def h(b):
    return hexlify(b).decode()


def entropy(seed):
    stream = hashlib.shake_256(seed).digest(4096)
    pos = [0]

    def f(n):
        out = stream[pos[0]:pos[0] + n]
        pos[0] += n
        return out
    return f


def spake_case(code, seed_a, seed_b):
    a = SPAKE2_Symmetric(code, idSymmetric=APPID, entropy_f=entropy(seed_a))
    b = SPAKE2_Symmetric(code, idSymmetric=APPID, entropy_f=entropy(seed_b))
    msg_a, msg_b = a.start(), b.start()
    key_a, key_b = a.finish(msg_b), b.finish(msg_a)
    assert key_a == key_b
    return {"code": code.decode(), "scalar_a": h(scalar_to_bytes(a.xy_scalar)),
            "scalar_b": h(scalar_to_bytes(b.xy_scalar)), "msg_a": h(msg_a),
            "msg_b": h(msg_b), "key": h(key_a),
            "password_scalar": h(scalar_to_bytes(a.pw_scalar))}


def main():
    cases = [spake_case(b"4-purple-sausages", b"a1", b"b1"),
             spake_case(b"7-guitarist-revenge", b"a2", b"b2"),
             spake_case(b"", b"a3", b"b3")]
    # A wrong code: each side computes a key, and they differ.
    a = SPAKE2_Symmetric(b"4-purple-sausages", idSymmetric=APPID, entropy_f=entropy(b"w1"))
    b = SPAKE2_Symmetric(b"4-purple-sausagez", idSymmetric=APPID, entropy_f=entropy(b"w2"))
    msg_a, msg_b = a.start(), b.start()
    wrong = {"code_a": "4-purple-sausages", "scalar_a": h(scalar_to_bytes(a.xy_scalar)),
             "msg_b": h(msg_b), "key_a": h(a.finish(msg_b)), "key_b": h(b.finish(msg_a))}
    key = bytes.fromhex(cases[0]["key"])
    transit_key = derive_key(key, APPID + b"/transit-key")
    nonce = bytes(range(24))
    phase_key = derive_phase_key(key, "0123456789", "version")
    record_sender = HKDF(transit_key, SecretBox.KEY_SIZE, CTXinfo=b"transit_record_sender_key")
    record_nonce = (1).to_bytes(24, "big")
    out = {
        "S": h(ParamsEd25519.S.to_bytes()),
        "spake2": cases,
        "wrong_code": wrong,
        "key": h(key),
        "phase": {"side": "0123456789", "phase": "version", "key": h(phase_key),
                  "nonce": h(nonce), "plaintext": '{"app_versions": {}}',
                  "box": h(SecretBox(phase_key).encrypt(b'{"app_versions": {}}', nonce))},
        "verifier": h(derive_key(key, b"wormhole:verifier")),
        "transit_key": h(transit_key),
        "sender_handshake": build_sender_handshake(transit_key).decode(),
        "receiver_handshake": build_receiver_handshake(transit_key).decode(),
        "relay_handshake": build_sided_relay_handshake(transit_key, "00112233445566aa").decode(),
        "record_sender_key": h(record_sender),
        "record_receiver_key": h(HKDF(transit_key, 32, CTXinfo=b"transit_record_receiver_key")),
        "record": {"counter": 1, "plaintext": "hello",
                   "sealed": h(SecretBox(record_sender).encrypt(b"hello", record_nonce))},
    }
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
