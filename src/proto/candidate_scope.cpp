#include "proto/candidate_scope.hpp"

#include <arpa/inet.h>

#include <array>
#include <cstring>
#include <optional>

namespace ferry::proto {

namespace {

struct Ip {
  bool v6 = false;
  std::array<std::uint8_t, 16> b{};  // IPv4 in the first four bytes
};

std::optional<Ip> parse(const std::string& s) {
  Ip ip;
  if (inet_pton(AF_INET, s.c_str(), ip.b.data()) == 1) return ip;
  if (inet_pton(AF_INET6, s.c_str(), ip.b.data()) == 1) {
    // An IPv4-mapped IPv6 address is the IPv4 address.
    static constexpr std::array<std::uint8_t, 12> kMapped = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(ip.b.data(), kMapped.data(), kMapped.size()) == 0) {
      std::memmove(ip.b.data(), ip.b.data() + 12, 4);
      std::memset(ip.b.data() + 4, 0, 12);
      return ip;
    }
    ip.v6 = true;
    return ip;
  }
  return std::nullopt;
}

bool local(const Ip& ip) {
  const auto* b = ip.b.data();
  if (!ip.v6) {
    return b[0] == 10 || b[0] == 127 || (b[0] == 172 && (b[1] & 0xF0) == 16) ||
           (b[0] == 192 && b[1] == 168) || (b[0] == 169 && b[1] == 254) ||
           (b[0] == 100 && (b[1] & 0xC0) == 64) || b[0] == 0;
  }
  static constexpr std::array<std::uint8_t, 16> kLoopback = {0, 0, 0, 0, 0, 0, 0, 0,
                                                             0, 0, 0, 0, 0, 0, 0, 1};
  return ip.b == kLoopback || (b[0] & 0xFE) == 0xFC || (b[0] == 0xFE && (b[1] & 0xC0) == 0x80);
}

// Equal IPv4 addresses, or IPv6 addresses in one /64 (a host's temporary addresses share it).
bool same_host(const Ip& a, const Ip& b) {
  if (a.v6 != b.v6) return false;
  return std::memcmp(a.b.data(), b.b.data(), a.v6 ? 8 : 4) == 0;
}

}  // namespace

bool is_local_address(const std::string& s) {
  const auto ip = parse(s);
  return ip && local(*ip);
}

bool in_scope(const Candidate& c, const CandidateScope& scope, std::string* why) {
  const auto say = [&](std::string text) {
    if (why != nullptr) *why = std::move(text);
    return false;
  };
  const auto ip = parse(c.address);
  if (!ip) return say("not an address");
  const auto peer = parse(scope.peer_observed);
  if (!peer) return say("the server did not say where the peer is, so no address of it is trusted");
  // The server sees the peer on this very machine: every address the peer names is ours too.
  static constexpr std::array<std::uint8_t, 16> kLoopback6 = {0, 0, 0, 0, 0, 0, 0, 0,
                                                              0, 0, 0, 0, 0, 0, 0, 1};
  if ((!peer->v6 && peer->b[0] == 127) || (peer->v6 && peer->b == kLoopback6)) return true;
  if (local(*ip)) {
    const auto mine = parse(scope.my_observed);
    const bool same_network = mine && std::memcmp(mine->b.data(), peer->b.data(), 16) == 0 &&
                              mine->v6 == peer->v6;
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
    const bool v6 = c.address.find(':') != std::string::npos;
    notes.push_back(c.transport + " " + (v6 ? "[" + c.address + "]" : c.address) + ":" +
                    std::to_string(c.port) + " offered by the peer: not tried (" + why + ")");
    return true;
  });
  return notes;
}

}  // namespace ferry::proto
