// Relay grants: for each paired session the rendezvous signs a token that lets exactly that
// session's two peers meet at a relay until it expires. A relay checks it with the shared key
// alone, so relays can be a pool apart from the rendezvous; the relay still remembers a used grant
// so that a second pair cannot join it.
#pragma once

#include <array>
#include <cstdint>

#include "proto/bytes.hpp"

namespace ferry::proto {

inline constexpr std::size_t kRelaySessionBytes = 16;
inline constexpr std::size_t kRelayGrantMacBytes = 16;
inline constexpr std::size_t kRelayGrantBytes = kRelaySessionBytes + 8 + kRelayGrantMacBytes;
using RelayKey = std::array<std::uint8_t, 32>;
using RelaySessionId = std::array<std::uint8_t, kRelaySessionBytes>;

struct RelayGrant {
  RelaySessionId session{};   // the rendezvous session id
  std::uint64_t expires = 0;  // unix seconds; peers must reach the relay before this
};

enum class GrantCheck { ok, malformed, forged, expired };

// session || expiry (big-endian) || BLAKE2b-128 keyed MAC of both.
Bytes sign_relay_grant(const RelayKey& key, const RelayGrant& grant);
// now is unix seconds (the caller reads the clock); out is set only when the result is ok.
// An all-zero grant is a probe (ferry doctor checking that a relay answers): never signed by
// anyone, refused like a forged one, but counted as a probe.
bool is_probe_grant(ByteView token);

GrantCheck check_relay_grant(const RelayKey& key, ByteView token, std::uint64_t now,
                             RelayGrant& out);

}  // namespace ferry::proto
