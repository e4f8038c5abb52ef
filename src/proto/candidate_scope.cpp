#include "proto/candidate_scope.hpp"

#include <algorithm>
#include <array>
#include <optional>

#include "proto/stun.hpp"

namespace ferry::proto {

namespace {

// The address as 4 bytes (IPv4, also from its IPv4-mapped IPv6 form) or 16.
std::optional<Bytes> address_bytes(const std::string& text) {
  auto b = parse_ip(text);
  static constexpr std::array<std::uint8_t, 12> kMapped = {0, 0, 0, 0, 0,    0,
                                                           0, 0, 0, 0, 0xff, 0xff};
  if (b && b->size() == 16 && std::equal(kMapped.begin(), kMapped.end(), b->begin())) {
    return Bytes(b->begin() + 12, b->end());
  }
  return b;
}

// Private (RFC 1918, CGNAT 100.64/10, fc00::/7), loopback or link-local.
bool local(const Bytes& b) {
  if (is_loopback(b)) return true;
  if (b.size() == 4) {
    return b[0] == 10 || (b[0] == 172 && (b[1] & 0xF0) == 16) || (b[0] == 192 && b[1] == 168) ||
           (b[0] == 169 && b[1] == 254) || (b[0] == 100 && (b[1] & 0xC0) == 64) || b[0] == 0;
  }
  return (b[0] & 0xFE) == 0xFC || (b[0] == 0xFE && (b[1] & 0xC0) == 0x80);
}

// Equal IPv4 addresses, or IPv6 addresses in one /64 (a host's temporary addresses share it).
bool same_host(const Bytes& a, const Bytes& b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.begin() + (a.size() == 4 ? 4 : 8), b.begin());
}

}  // namespace

bool in_scope(const Candidate& c, const CandidateScope& scope, std::string* why) {
  const auto say = [&](std::string text) {
    if (why != nullptr) *why = std::move(text);
    return false;
  };
  const auto ip = address_bytes(c.address);
  if (!ip) return say("not an address");
  const auto peer = address_bytes(scope.peer_observed);
  if (!peer) return say("the server did not say where the peer is, so no address of it is trusted");
  // The server sees the peer on this very machine: every address the peer names is ours too.
  if (is_loopback(*peer)) return true;
  if (local(*ip)) {
    const bool same_network = address_bytes(scope.my_observed) == peer;
    if (same_network || local(*peer)) return true;
    return say("a private address, and the peer is on another network");
  }
  if (same_host(*ip, *peer)) return true;
  return say("not the address the server saw the peer at (" + scope.peer_observed + ")");
}

std::vector<std::string> restrict_to_scope(std::vector<Candidate>& list,
                                           const CandidateScope& scope) {
  std::vector<std::string> notes;
  std::erase_if(list, [&](const Candidate& c) {
    std::string why;
    if (in_scope(c, scope, &why)) return false;
    notes.push_back(candidate_text(c) + " offered by the peer: not tried (" + why + ")");
    return true;
  });
  return notes;
}

}  // namespace ferry::proto
