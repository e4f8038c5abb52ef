// The relay protocol a client speaks on a raw (TCP or TLS) connection to the server port, or as
// binary WebSocket messages on /v1/relay. The client's hello carries the magic (how the server
// tells a relay connection from HTTP), its side and the grant the rendezvous signed for this
// session, so the relay pairs only two peers of one session and never dials anywhere. The relay
// answers with status bytes ("waiting" as soon as the grant checks out, then "paired" or why
// not). After "paired", what a client sends is forwarded as is; on a raw connection what the relay
// sends comes in frames, so that the relay can say why it ends a session (a limit) after data.
// On a WebSocket, data is one binary message per frame and the end is a close frame.
#pragma once

#include <array>
#include <string>

#include "proto/bytes.hpp"
#include "proto/error.hpp"
#include "proto/key_schedule.hpp"
#include "proto/relay_grant.hpp"

namespace ferry::proto {

inline constexpr std::array<std::uint8_t, 4> kRelayMagic = {'F', 'R', 'L', 'Y'};
inline constexpr std::size_t kRelayHelloBytes = 4 + 1 + 1 + kRelayGrantBytes;
inline constexpr std::uint8_t kRelayVersion = 2;

struct RelayHello {
  Side side = Side::sender;
  std::array<std::uint8_t, kRelayGrantBytes> grant{};
};

enum class RelayStatus : std::uint8_t {
  paired = 0,
  unknown_grant = 1,  // well-formed and signed, but already used by a pair
  side_taken = 2,
  timeout = 3,  // the peer did not come
  malformed = 4,
  limit = 5,    // refused or ended by one of the relay's limits (the text says which)
  waiting = 6,  // grant accepted; waiting for the peer
  expired = 7,
  forged = 8,      // not signed by this relay's rendezvous tier
  shutdown = 9,    // the relay is stopping
  challenge = 10,  // over UDP: bind again with this cookie (proto/relay_udp.hpp)
};

// Which of the relay's limits refused or ended a transfer, with the figure the relay allows.
enum class RelayLimitKind : std::uint8_t {
  unknown = 0,
  bytes = 1,         // --relay-max-bytes
  duration = 2,      // --relay-max-duration (seconds)
  per_address = 3,   // --relay-per-address
  connect_rate = 4,  // --relay-connects-per-minute
  ended = 5,         // the session already ended at a limit
};
struct RelayLimit {
  RelayLimitKind kind = RelayLimitKind::unknown;
  std::uint64_t value = 0;
};
// The sentence that says it (the TCP relay sends it in its end frame or refusal; over UDP the
// client builds it from the kind and figure the answer carries).
std::string relay_limit_text(const RelayLimit& limit);
// "1.5 MiB", "2.0 GiB", "512 bytes".
std::string size_text(std::uint64_t bytes);

Bytes encode(const RelayHello& h);
Result<RelayHello> decode_relay_hello(ByteView b);
std::string_view relay_status_text(RelayStatus s);
// The error a client reports for a status other than waiting/paired, with the relay's own text.
Error relay_status_error(std::uint8_t status, std::string_view where, std::string_view text = {});

// Frames the relay sends on a raw connection after "paired": a 4-byte big-endian header whose top
// bit marks the end frame and whose other bits are the length of what follows. Data frames carry
// forwarded bytes; the end frame carries a status byte and a sentence.
inline constexpr std::size_t kRelayFrameHeaderBytes = 4;
inline constexpr std::uint32_t kRelayMaxFrame = 1U << 20;
inline constexpr std::uint32_t kRelayMaxEndText = 512;
// WebSocket close codes for an end: 4000 + the status.
inline constexpr std::uint16_t kRelayCloseBase = 4000;

struct RelayFrameHeader {
  bool end = false;
  std::uint32_t length = 0;
};
std::array<std::uint8_t, kRelayFrameHeaderBytes> encode_relay_data_header(std::uint32_t length);
Bytes encode_relay_end(RelayStatus status, std::string_view text);
Result<RelayFrameHeader> decode_relay_frame_header(const std::uint8_t* p);
// Body of an end frame (status byte, then text): the error a client reports.
Error decode_relay_end(ByteView body, std::string_view where);

}  // namespace ferry::proto
