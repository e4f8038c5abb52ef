#!/usr/bin/env python3
"""Pages behind the lab's routers: real headless Chromium in a host's namespace (web/lab/page_driver.mjs)
receives a 16 MiB file from the CLI (cli-to-page), sends one to the CLI (page-to-cli), or takes it
from a send page in another Chromium (page-to-page) across the lab's NATs. The path is decided from the internet namespace's counters only, counted
from the moment the pages are loaded (the pages' own code, 1.2 MB, is not the transfer): direct
where the CLI goes direct over UDP without the birthday method, the relay where nothing else can
work. Every row must deliver intact and take its path; exit 1 otherwise.
    browser_paths.py [ROW ...]     (rows: MODE/SCENARIO, e.g. cli-to-page/cone-cone; default all)
"""
import filecmp
import json
import os
import selectors
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lab import Lab, ferry, payload, root_or_skip, start_server  # noqa: E402
from run_scenario import classify  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DRIVER = os.path.join(ROOT, "web", "lab", "page_driver.mjs")
SIZE = 16 << 20
TIMEOUT = 60

# (A, B, the path by the counters, ipv6): the sender on A, the receiver on B.
NETWORKS = {
    "cone-cone": ("cone", "cone", "direct", False),
    "cgnat-cone": ("cgnat", "cone", "direct", False),
    "fullcone-symmetric": ("fullcone", "symmetric", "direct", False),
    "udpblock-cone": ("udpblock", "cone", "relay", False),
    # The CLI gets through here only by the birthday method (20,000 probes), which ICE has not.
    "cone-symmetric": ("cone", "symmetric", "relay", False),
    "symmetric-symmetric": ("symmetric", "symmetric", "relay", False),
    # The page behind an office's proxy: only the relay, through its CONNECT.
    "public-proxyonly": ("public", "proxyonly", "relay", False),
    # Global IPv6 behind stateful firewalls, where IPv4 is hopeless.
    "symmetric-symmetric-v6": ("symmetric", "symmetric", "direct", True),
}
ROWS = (["%s/%s" % (mode, net) for mode in ("cli-to-page", "page-to-page") for net in NETWORKS]
        + ["page-to-cli/cone-cone", "page-to-cli/symmetric-symmetric"])


def driver(lab, side, args):
    return lab.spawn(lab.hosts[side], ["node", DRIVER] + args, stdin=subprocess.PIPE,
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                     env=lab.env(side))


def next_event(proc, kinds, timeout=TIMEOUT):
    """The driver's next event among kinds (or its error); None when it ended or timeout passed."""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not sel.select(max(0.0, deadline - time.monotonic())):
                break
            raw = proc.stdout.readline()
            if not raw:
                return None
            ev = json.loads(raw)
            if ev["event"] in kinds or ev["event"] == "error":
                return ev
    return None


def run(row, size=SIZE, **shape):
    """One row; shape: more of Lab's arguments (rate_mbit, delay_ms) for a shaped link. Returns the
    result, with the CLI's own MB/s (its done event) where a CLI took part."""
    mode, net = row.split("/")
    a, b, expected, ipv6 = NETWORKS[net]
    r = {"row": row, "expected": expected, "delivered": False, "path": "none", "page_path": None,
         "server_bytes": None, "seconds": None, "cli_mb_s": None, "error": None}
    with Lab(a, b, ipv6=ipv6, **shape) as lab:
        url = start_server(lab)
        src, out = payload(lab, size)
        saved = os.path.join(out, "payload.bin")
        if mode == "cli-to-page":
            sender = ferry(lab, "A", ["send", "--json", "--server", url, src])
            first = json.loads(sender.stdout.readline() or '{"event":"none"}')
            if first["event"] != "code":
                r["error"] = "the CLI did not start: " + sender.stderr.read()[-300:]
                return r
            link = first["link"]
        else:
            sender = driver(lab, "A", ["send", url, src])
            ev = next_event(sender, ("link",))
            if not ev or ev["event"] != "link":
                r["error"] = "the send page: %s %s" % (ev, sender.stderr.read()[-300:])
                return r
            link = ev["link"]
        if mode == "page-to-cli":
            lab.reset_counters()
            start = time.monotonic()
            receiver = ferry(lab, "B", ["receive", "--json", "--yes", "--server", url, "--output", out, link])
            cli, ev = receiver, next_event(sender, ("done",))
        else:
            receiver = driver(lab, "B", ["receive", link, saved])
            ev = next_event(receiver, ("ready",))
            if not ev or ev["event"] != "ready":
                r["error"] = "the receive page: %s %s" % (ev, receiver.stderr.read()[-300:])
                return r
            lab.reset_counters()
            start = time.monotonic()
            receiver.stdin.write("go\n")
            receiver.stdin.flush()
            cli, ev = (sender if mode == "cli-to-page" else None), next_event(receiver, ("done",))
        page = sender if mode == "page-to-cli" else receiver
        try:
            if ev is None:
                raise subprocess.TimeoutExpired("page_driver", TIMEOUT)
            receiver.wait(TIMEOUT)
            sender.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            for p in (receiver, sender):
                if p.poll() is None:
                    p.kill()
            r["error"] = "timed out after %d s (receiver %s, sender %s): %s" % (
                TIMEOUT, receiver.returncode, sender.returncode, page.stderr.read()[-600:])
        r["seconds"] = round(time.monotonic() - start, 2)
        counters = lab.read_counters()
        r["delivered"] = os.path.exists(saved) and filecmp.cmp(src, saved, shallow=False)
        r["server_bytes"] = counters.get("server", 0)
        r["path"] = classify(r["delivered"], counters, size)
        if ev and ev["event"] == "done":
            r["page_path"] = ev["path"]
        elif ev and not r["error"]:
            r["error"] = ev["message"][-300:]
        if cli is not None and cli.returncode == 0:
            for raw in cli.stdout:
                e = json.loads(raw)
                if e["event"] == "done" and e["seconds"] > 0:
                    r["cli_mb_s"] = round(e["bytes"] / e["seconds"] / 1e6, 2)
        for p, who in ((sender, "sender"), (receiver, "receiver")):
            if not r["error"] and p.returncode != 0:
                r["error"] = "the %s ended with %s: %s" % (who, p.returncode, p.stderr.read()[-300:])
    return r


def passed(r):
    return (r["delivered"] and r["path"] == r["expected"] and r["page_path"] == r["path"]
            and not r["error"])


def main():
    rows = sys.argv[1:] or ROWS
    for row in rows:
        if row not in ROWS:
            sys.exit("unknown row %s (rows: %s)" % (row, ", ".join(ROWS)))
    if not root_or_skip():
        return
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if not os.path.exists(chromium):
        if os.environ.get("CI") == "true":
            sys.exit("Chromium is missing at %s (scripts/setup.sh installs it)" % chromium)
        print("SKIPPED: no Chromium at %s" % chromium)
        return
    failed = []
    for row in rows:
        r = run(row)
        ok = passed(r)
        print("%-36s %-9s %-7s (want %-6s) page says %-7s %7s s  server %10s B  %s%s" % (
            row, "delivered" if r["delivered"] else "FAILED", r["path"], r["expected"],
            r["page_path"], r["seconds"], r["server_bytes"], "PASS" if ok else "FAIL",
            "  (" + r["error"] + ")" if r["error"] else ""), flush=True)
        if not ok:
            failed.append(row)
    print("browser rows: %d of %d pass%s" % (len(rows) - len(failed), len(rows),
                                             "; failing: " + ", ".join(failed) if failed else ""))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
