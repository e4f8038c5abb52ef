// UDP hole-punching probes and the one-socket demultiplexer's rule. Both peers send probes to each
// other's UDP candidates at once; each carries a MAC under a key from the session, so only the
// peer can open (or steer) a punched path, and a nonce its answer echoes.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "proto/bytes.hpp"
#include "proto/key_schedule.hpp"

namespace ferry::proto {

// What a datagram on ferry's UDP socket is: STUN carries its magic cookie; a probe is 26 bytes
// starting with 0x3A or 0x3B (and only decode_probe's MAC check makes it one); the rest is QUIC.
// The top two bits alone cannot tell: ngtcp2 0.12 always offers RFC 9287's greasing of QUIC's
// fixed bit, so a peer's short-header packets may start with both bits clear. A "probe" whose MAC
// fails goes to QUIC. The relay over UDP answers with 21 bytes that start 00 'F' 'R' 'A'
// (proto/relay_udp.hpp), which no QUIC packet of ngtcp2's is as short as.
enum class DatagramKind { stun, probe, quic, relay };
DatagramKind classify_datagram(ByteView datagram);

enum class ProbeKind : std::uint8_t { ping = 0x3A, pong = 0x3B };
inline constexpr std::size_t kProbeBytes = 26;
using ProbeNonce = std::array<std::uint8_t, 8>;

struct Probe {
  ProbeKind kind = ProbeKind::ping;
  Side from = Side::sender;
  ProbeNonce nonce{};  // a pong echoes the ping's nonce
};

// kind ‖ side ‖ nonce(8) ‖ BLAKE2b-128 MAC under key over the first 10 bytes.
Bytes encode_probe(const Probe& probe, const Key& key);
// nullopt: not a probe, or not made with this key (someone else's, or forged).
std::optional<Probe> decode_probe(ByteView datagram, const Key& key);

}  // namespace ferry::proto
