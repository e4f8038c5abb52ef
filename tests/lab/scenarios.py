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
Row = namedtuple("Row", "a b samelan loss expected what rtt_ms rate_mbit transport ipv6",
                 defaults=(0, 0, None, False))

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


def forced_env(row):
    """The environment variables that keep a row's clients on its transport."""
    return {"tcp": {"FERRY_NO_UDP": "1"}, "quic": {"FERRY_NO_TCP": "1"}}.get(row.transport, {})
