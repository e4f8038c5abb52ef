#include "proto/relay_hello.hpp"

#include <algorithm>

namespace ferry::proto {

Bytes encode(const RelayHello& h) {
  Bytes out(kRelayMagic.begin(), kRelayMagic.end());
  out.push_back(kRelayVersion);
  out.push_back(h.side == Side::sender ? 'S' : 'R');
  append(out, h.grant);
  return out;
}

Result<RelayHello> decode_relay_hello(ByteView b) {
  if (b.size() != kRelayHelloBytes ||
      !std::equal(kRelayMagic.begin(), kRelayMagic.end(), b.begin()) || b[4] != kRelayVersion ||
      (b[5] != 'S' && b[5] != 'R')) {
    return fail(Errc::protocol, "malformed relay hello");
  }
  RelayHello h;
  h.side = b[5] == 'S' ? Side::sender : Side::receiver;
  std::copy(b.begin() + 6, b.end(), h.grant.begin());
  return h;
}

std::string_view relay_status_text(RelayStatus s) {
  switch (s) {
    case RelayStatus::paired:
      return "paired";
    case RelayStatus::unknown_grant:
      return "the relay does not know this session (expired or used)";
    case RelayStatus::side_taken:
      return "another connection already holds this side of the session";
    case RelayStatus::timeout:
      return "the peer did not reach the relay in time";
    case RelayStatus::malformed:
      return "the relay did not understand the request";
    case RelayStatus::limit:
      return "the relay is at its limit";
  }
  return "unknown relay status";
}

}  // namespace ferry::proto
