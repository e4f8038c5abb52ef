// The first bytes a client sends on a raw TCP connection to the relay port, and the relay's answer.
// The server tells a relay connection from HTTP by the magic; the grant is one the rendezvous
// issued for this session, so the relay pairs only two peers of one session and never dials
// anywhere.
#pragma once

#include <array>

#include "proto/bytes.hpp"
#include "proto/error.hpp"
#include "proto/key_schedule.hpp"

namespace ferry::proto {

inline constexpr std::array<std::uint8_t, 4> kRelayMagic = {'F', 'R', 'L', 'Y'};
inline constexpr std::size_t kRelayGrantBytes = 32;
inline constexpr std::size_t kRelayHelloBytes = 4 + 1 + 1 + kRelayGrantBytes;
inline constexpr std::uint8_t kRelayVersion = 1;

struct RelayHello {
  Side side = Side::sender;
  std::array<std::uint8_t, kRelayGrantBytes> grant{};
};

// The relay's one-byte answer once both peers are there (or why not).
enum class RelayStatus : std::uint8_t {
  paired = 0,
  unknown_grant = 1,
  side_taken = 2,
  timeout = 3,
  malformed = 4,
  limit = 5,
};

Bytes encode(const RelayHello& h);
Result<RelayHello> decode_relay_hello(ByteView b);
std::string_view relay_status_text(RelayStatus s);

}  // namespace ferry::proto
