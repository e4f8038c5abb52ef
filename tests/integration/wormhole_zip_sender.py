#!/usr/bin/python3
"""A magic-wormhole sender that offers a prepared zip as a directory: Debian's own client with
its zip-building step replaced, for tests of hostile archives.
Usage: wormhole_zip_sender.py ZIP DIRNAME NUMFILES NUMBYTES WORMHOLE-ARGS... (ending in "send
... WHAT"; WHAT is not read)."""
import sys

from wormhole.cli import cli, cmd_send

ZIP, DIRNAME, NUMFILES, NUMBYTES = sys.argv[1:5]


def build_offer(self):
    f = open(ZIP, "rb")
    size = f.seek(0, 2)
    f.seek(0)
    return {"directory": {"mode": "zipfile/deflated", "dirname": DIRNAME, "zipsize": size,
                          "numbytes": int(NUMBYTES), "numfiles": int(NUMFILES)}}, f


cmd_send.Sender._build_offer = build_offer
sys.argv = ["wormhole"] + sys.argv[5:]
sys.exit(cli.wormhole())
