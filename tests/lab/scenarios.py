"""The rows of docs/scenarios.md: who sits behind what, and the path ferry must end up on."""

# name: (router A, router B, same LAN, loss per mille, expected path, what it exercises)
SCENARIOS = {
    "public-public": ("public", "public", False, 0, "direct", "direct TCP"),
    "cone-public": ("cone", "public", False, 0, "direct", "direct TCP out of a NAT"),
    "cone-cone": ("cone", "cone", False, 0, "direct", "UDP hole punching + QUIC"),
    "fullcone-symmetric": ("fullcone", "symmetric", False, 0, "direct", "peer-reflexive learning"),
    "cone-symmetric": ("cone", "symmetric", False, 0, "direct", "birthday probing"),
    "symmetric-symmetric": ("symmetric", "symmetric", False, 0, "relay", "relay fallback"),
    "upnp-cone": ("upnp", "cone", False, 0, "direct", "UPnP/NAT-PMP/PCP mapped port"),
    "udpblock-cone": ("udpblock", "cone", False, 0, "direct", "TCP simultaneous open"),
    "proxyonly-public": ("proxyonly", "public", False, 0, "relay", "relay via HTTP CONNECT proxy"),
    "proxyauth-public": ("proxyauth", "public", False, 0, "relay", "CONNECT proxy with Basic credentials"),
    "samelan": ("cone", "cone", True, 0, "direct", "LAN addresses"),
    "cgnat-cone": ("cgnat", "cone", False, 0, "direct", "punching through two NATs"),
    "cone-cone-loss1": ("cone", "cone", False, 10, "direct", "direct under 1% loss"),
}
