// The relay over UDP, for clients whose TCP to the relay suffers (CUBIC on a long, lossy path): the
// relay forwards QUIC datagrams between the two sides of a session, and QUIC runs end to end
// between the peers (its own congestion control, the sender's pinned certificate), so the relay
// reads nothing and the peers keep their own keys, as on a TCP relay.
//
// A client binds its UDP socket to its side of a session with a bind datagram carrying the grant.
// The relay first answers with a cookie (a MAC over the client's address, the session and the
// minute) that the client must echo, so that nobody can bind an address it does not receive at
// (a forged source would make the relay send a session's traffic at someone else). Every answer
// is smaller than the bind that earned it. Once both sides are bound, every datagram from one
// side's address that is not a bind goes to the other's, within the relay's limits. When its QUIC
// connection ends, a client sends an unbind (the bind's layout under another magic) from the bound
// address, so the relay frees the side at once rather than after a minute of silence; it is
// never answered.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>

#include "proto/bytes.hpp"
#include "proto/error.hpp"
#include "proto/key_schedule.hpp"
#include "proto/relay_grant.hpp"
#include "proto/relay_hello.hpp"

namespace ferry::proto {

inline constexpr std::array<std::uint8_t, 4> kRelayBindMagic = {0x00, 'F', 'R', 'B'};
inline constexpr std::array<std::uint8_t, 4> kRelayAnswerMagic = {0x00, 'F', 'R', 'A'};
inline constexpr std::array<std::uint8_t, 4> kRelayUnbindMagic = {0x00, 'F', 'R', 'U'};
inline constexpr std::uint8_t kRelayUdpVersion = 1;
inline constexpr std::size_t kRelayCookieBytes = 16;
using RelayCookie = std::array<std::uint8_t, kRelayCookieBytes>;
inline constexpr std::size_t kRelayBindBytes = 4 + 1 + 1 + kRelayGrantBytes + kRelayCookieBytes;
inline constexpr std::size_t kRelayAnswerBytes = 4 + 1 + kRelayCookieBytes;

struct RelayBind {
  Side side = Side::sender;
  std::array<std::uint8_t, kRelayGrantBytes> grant{};
  RelayCookie cookie{};  // all zero until the relay gave one
  bool unbind = false;   // the side is done: the relay forgets its binding
};

// status: challenge (cookie set: bind again with it), waiting, paired, or why not. With limit,
// the cookie's place says which limit and its figure: kind (1 byte), value (8, big-endian), zeros.
struct RelayAnswer {
  RelayStatus status = RelayStatus::waiting;
  RelayCookie cookie{};
  RelayLimit limit;  // with status limit
};

Bytes encode(const RelayBind& b);
Result<RelayBind> decode_relay_bind(ByteView d);
Bytes encode(const RelayAnswer& a);
Result<RelayAnswer> decode_relay_answer(ByteView d);
// The error a client reports for an answer other than challenge/waiting/paired: a limit by name.
Error relay_answer_error(const RelayAnswer& a, std::string_view where);

// Whether a datagram is shaped like a bind or an unbind (its size and magic); from a bound side
// everything else is forwarded (QUIC may grease its fixed bit away, RFC 9287: the first byte
// tells nothing).
inline bool is_relay_bind(ByteView d) {
  return d.size() == kRelayBindBytes &&
         (std::equal(kRelayBindMagic.begin(), kRelayBindMagic.end(), d.begin()) ||
          std::equal(kRelayUnbindMagic.begin(), kRelayUnbindMagic.end(), d.begin()));
}

}  // namespace ferry::proto
