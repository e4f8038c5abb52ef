"""The rows of docs/scenarios.md: who sits behind what, and the path ferry must end up on."""
from collections import namedtuple

# a, b: the routers of sides A and B; samelan: both hosts on A's LAN; loss: per mille of the
# packets entering the internet dropped; expected: the path ("direct" or "relay"); what: what the
# row exercises. Link shape (lab.Lab): rtt_ms between the peers (each side's link holds packets a
# quarter of it each way), rate_mbit on each side's link. transport: the one ferry must use
# ("tcp", "quic"; None: either), forced where the row measures one path by FERRY_NO_UDP /
# FERRY_NO_TCP in both clients' environment.
# ipv6: every link also carries IPv6 (global addresses behind stateful firewalls, lab.Lab) and
# the clients reach the server over it.
# mtu: each side's WAN link's MTU (0: 1500); blackhole: the routers' ICMP "fragmentation needed" /
# "packet too big" answers are dropped; udp_timeout: the routers forget idle UDP mappings after
# this many seconds (lab.Lab). pause_s: the receiver starts this long after the code is printed,
# and answers its "Accept?" this long after it is asked (0: --yes).
Row = namedtuple("Row", "a b samelan loss expected what rtt_ms rate_mbit transport ipv6 mtu blackhole "
                 "udp_timeout pause_s", defaults=(0, 0, None, False, 0, False, 0, 0))

SCENARIOS = {
    "public-public": Row("public", "public", False, 0, "direct", "direct TCP"),
    "cone-public": Row("cone", "public", False, 0, "direct", "direct TCP out of a NAT"),
    "cone-cone": Row("cone", "cone", False, 0, "direct", "UDP hole punching + QUIC"),
    "fullcone-symmetric": Row("fullcone", "symmetric", False, 0, "direct", "peer-reflexive learning"),
    "cone-symmetric": Row("cone", "symmetric", False, 0, "direct", "birthday probing"),
    "symmetric-symmetric": Row("symmetric", "symmetric", False, 0, "relay", "relay fallback"),
    "upnp-cone": Row("upnp", "cone", False, 0, "direct", "UPnP/NAT-PMP/PCP mapped port"),
    "udpblock-cone": Row("udpblock", "cone", False, 0, "direct", "TCP simultaneous open"),
    "proxyonly-public": Row("proxyonly", "public", False, 0, "relay", "relay via HTTP CONNECT proxy"),
    "proxyauth-public": Row("proxyauth", "public", False, 0, "relay",
                            "CONNECT proxy with Basic credentials"),
    "samelan": Row("cone", "cone", True, 0, "direct", "LAN addresses"),
    "cgnat-cone": Row("cgnat", "cone", False, 0, "direct", "punching through two NATs"),
    "cone-cone-loss1": Row("cone", "cone", False, 10, "direct", "direct under 1% loss"),
    "symmetric-symmetric-v6": Row("symmetric", "symmetric", False, 0, "direct",
                                  "IPv6 through stateful firewalls where IPv4 is hopeless",
                                  ipv6=True),
    "symmetric-symmetric-v6-quic": Row("symmetric", "symmetric", False, 0, "direct",
                                       "the same, QUIC on an IPv6 punched socket", transport="quic",
                                       ipv6=True),
}

# Long round trips on 100 Mbit/s links, clean and with 1 % loss, for each kind of path: direct TCP
# (public hosts), QUIC on a punched socket (cone NATs) and the relay (symmetric NATs).
for _rtt in (80, 200):
    for _loss in (0, 10):
        _shape = "%dms%s" % (_rtt, "-loss1" if _loss else "")
        _how = "%d ms RTT%s" % (_rtt, ", 1% loss" if _loss else "")
        SCENARIOS["tcp-" + _shape] = Row("public", "public", False, _loss, "direct",
                                         "direct TCP, " + _how, _rtt, 100, "tcp")
        SCENARIOS["quic-" + _shape] = Row("cone", "cone", False, _loss, "direct",
                                          "QUIC on a punched socket, " + _how, _rtt, 100, "quic")
        SCENARIOS["relay-" + _shape] = Row("symmetric", "symmetric", False, _loss, "relay",
                                           "the relay, " + _how, _rtt, 100, None)

# Wide TCP from behind a NAT: the NATed side dials the public one, its connections leave from
# different ports of one public address, and the accepting side groups them by that address.
SCENARIOS["tcp-nat-200ms-loss1"] = Row("cone", "public", False, 10, "direct",
                                       "direct TCP dialled from behind a NAT, 200 ms RTT, 1% loss",
                                       200, 100, "tcp")


# Links that break the rules: a 1280-byte WAN MTU on both sides, which the hosts behind the routers
# do not know, with the routers' ICMP answers delivered, and dropped (a PMTU black hole). Both sides
# are NATed: a public host's own link is the narrow one, and its TCP MSS says so.
for _name, _a, _b, _expected, _transport, _what in (
        ("cone-cone-tcp", "cone", "cone", "direct", "tcp", "direct TCP"),
        ("cone-cone-quic", "cone", "cone", "direct", "quic", "QUIC on a punched socket"),
        ("symmetric-symmetric", "symmetric", "symmetric", "relay", "tcp", "the relay over TCP"),
        ("symmetric-symmetric-quic", "symmetric", "symmetric", "relay", "quic",
         "QUIC through the relay over UDP")):
    for _hole in (False, True):
        SCENARIOS["%s-mtu1280%s" % (_name, "-blackhole" if _hole else "")] = Row(
            _a, _b, False, 0, _expected,
            "%s, 1280-byte WAN MTU%s" % (_what, ", PMTU black hole" if _hole else ""),
            transport=_transport, mtu=1280, blackhole=_hole)
# IPv6 routers never fragment: a black hole there needs a smaller segment size.
SCENARIOS["symmetric-symmetric-v6-mtu1280-blackhole"] = Row(
    "symmetric", "symmetric", False, 0, "direct", "direct TCP over IPv6, PMTU black hole",
    transport="tcp", ipv6=True, mtu=1280, blackhole=True)

# Forgetful NATs: UDP mappings forgotten after 30 s idle, while the sender waits 40 s for its
# receiver and the receiver 40 s at its "Accept?".
SCENARIOS["cone-cone-quic-udp30-pause"] = Row(
    "cone", "cone", False, 0, "direct", "QUIC on a punched socket, NATs forget UDP after 30 s, "
    "40 s pauses", transport="quic", udp_timeout=30, pause_s=40)
SCENARIOS["symmetric-symmetric-quic-udp30-pause"] = Row(
    "symmetric", "symmetric", False, 0, "relay", "the relay over UDP, NATs forget UDP after 30 s, "
    "40 s pauses", transport="quic", udp_timeout=30, pause_s=40)


def forced_env(row):
    """The environment variables that keep a row's clients on its transport (on a relay row, the
    relay's: FERRY_NO_UDP leaves the relay over UDP out, FERRY_NO_RELAY_TCP the relay over TCP)."""
    if row.expected == "relay" and row.transport == "quic":
        return {"FERRY_NO_TCP": "1", "FERRY_NO_RELAY_TCP": "1"}
    return {"tcp": {"FERRY_NO_UDP": "1"}, "quic": {"FERRY_NO_TCP": "1"}}.get(row.transport, {})
