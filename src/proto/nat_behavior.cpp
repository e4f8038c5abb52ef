#include "proto/nat_behavior.hpp"

namespace ferry::proto {

NatBehavior classify_nat(const NatObservations& o) {
  NatBehavior b;
  if (!o.primary) {
    b.udp_blocked = true;
    return b;
  }
  b.public_address = o.primary;
  b.behind_nat = !o.mapped_is_local;
  b.port_preserved = o.primary->port == o.local_port;
  if (!b.behind_nat) {
    b.mapping = NatMapping::none;
  } else if (o.other_address) {
    // RFC 5780 4.3: the same mapping towards another address means endpoint-independent; else
    // the same mapping towards that address's other port means address-dependent.
    if (*o.other_address == *o.primary) {
      b.mapping = NatMapping::endpoint_independent;
    } else {
      b.mapping = o.other_port && *o.other_port == *o.primary ? NatMapping::address_dependent
                                                              : NatMapping::dependent;
    }
  } else if (o.other_port) {
    b.mapping =
        *o.other_port == *o.primary ? NatMapping::endpoint_independent : NatMapping::dependent;
  }
  // RFC 5780 4.4: an answer from another address means endpoint-independent filtering; from
  // the same address's other port, address-dependent; neither, address-and-port-dependent.
  if (o.answered_from_other_address.value_or(false)) {
    b.filtering = NatFiltering::endpoint_independent;
  } else if (o.answered_from_other_port) {
    if (*o.answered_from_other_port) {
      b.filtering = o.server_has_other_address ? NatFiltering::address_dependent
                                               : NatFiltering::endpoint_independent;
    } else {
      b.filtering = NatFiltering::address_port_dependent;
    }
  }
  return b;
}

std::string_view mapping_name(NatMapping m) {
  switch (m) {
    case NatMapping::unknown:
      return "unknown";
    case NatMapping::none:
      return "none";
    case NatMapping::endpoint_independent:
      return "endpoint-independent";
    case NatMapping::address_dependent:
      return "address-dependent";
    case NatMapping::dependent:
      return "address-and-port-dependent";
  }
  return "unknown";
}

std::string_view filtering_name(NatFiltering f) {
  switch (f) {
    case NatFiltering::unknown:
      return "unknown";
    case NatFiltering::endpoint_independent:
      return "endpoint-independent";
    case NatFiltering::address_dependent:
      return "address-dependent";
    case NatFiltering::address_port_dependent:
      return "address-and-port-dependent";
  }
  return "unknown";
}

std::string describe_nat(const NatBehavior& b) {
  if (b.udp_blocked) {
    return "UDP is blocked on this network (no answer from the server's STUN ports): direct "
           "transfers can still use TCP, and the relay always works";
  }
  const std::string seen = b.public_address ? b.public_address->to_string() : "?";
  const bool loopback = b.public_address && is_loopback(b.public_address->ip);
  if (loopback) {
    return "UDP works to the server on this computer (" + seen +
           "); how peers elsewhere reach this computer cannot be told from here (ferry doctor "
           "--stun HOST:PORT measures it against a STUN server outside)";
  }
  if (!b.behind_nat) {
    return "UDP works and this computer has a public address (" + seen + ")" +
           (b.filtering == NatFiltering::address_port_dependent
                ? ", behind a firewall that admits only replies: peers can still meet it by "
                  "hole punching"
                : ": peers can reach it directly");
  }
  std::string nat;
  switch (b.mapping) {
    case NatMapping::endpoint_independent:
      nat = b.filtering == NatFiltering::endpoint_independent
                ? "a full-cone NAT (one public port per socket, open to anyone who knows it): "
                  "the friendliest kind for direct transfers"
                : "a cone NAT (one public port per socket, answers only from places it sent "
                  "to), like most home routers: hole punching works with most peers";
      break;
    case NatMapping::address_dependent:
    case NatMapping::dependent:
      nat =
          "a symmetric NAT (a new public port for every destination): direct paths work "
          "only with peers on friendlier networks; otherwise transfers use the relay";
      break;
    default:
      nat = "a NAT whose mapping could not be measured";
  }
  return "UDP works; this computer is behind " + nat + ". The internet sees it as " + seen +
         (b.port_preserved ? " (its own port kept)" : "") + ".";
}

}  // namespace ferry::proto
