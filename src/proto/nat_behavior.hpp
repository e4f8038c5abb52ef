// What a network's NAT does to UDP, in RFC 4787 / RFC 5780 terms, decided from STUN observations
// (made by net/stun_client against a server answering on two ports, and on two addresses when it
// has them), and said in plain words for `ferry doctor`. Pure: observations in, verdict out.
#pragma once

#include <optional>
#include <string>

#include "proto/stun.hpp"

namespace ferry::proto {

struct NatObservations {
  std::uint16_t local_port = 0;
  bool mapped_is_local = false;         // the mapped address is one of this host's own, same port
  std::optional<IpPort> primary;        // test I: to the server's primary address and port
  std::optional<IpPort> other_port;     // same address, the other port
  std::optional<IpPort> other_address;  // the other address (when the server has one)
  bool server_has_other_address = false;
  std::optional<bool> answered_from_other_port;     // CHANGE-REQUEST(port) got through
  std::optional<bool> answered_from_other_address;  // CHANGE-REQUEST(ip+port) got through
};

enum class NatMapping { unknown, none, endpoint_independent, address_dependent, dependent };
enum class NatFiltering {
  unknown,
  endpoint_independent,
  address_dependent,
  address_port_dependent
};

struct NatBehavior {
  bool udp_blocked = false;
  bool behind_nat = false;
  NatMapping mapping = NatMapping::unknown;
  NatFiltering filtering = NatFiltering::unknown;
  bool port_preserved = false;
  std::optional<IpPort> public_address;
};

NatBehavior classify_nat(const NatObservations& o);
// Stable names for --json ("endpoint-independent", ...).
std::string_view mapping_name(NatMapping m);
std::string_view filtering_name(NatFiltering f);
// One or two sentences a non-expert can act on.
std::string describe_nat(const NatBehavior& b);

}  // namespace ferry::proto
