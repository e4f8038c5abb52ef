// The rendezvous protocol between a client and `ferry serve`, one JSON object per WebSocket text
// frame. The server only introduces peers and relays opaque (base64) bodies between them; it never
// learns the code or any key. Decoding is strict: unknown types, missing fields and oversized
// frames are errors, so the server can close a misbehaving connection with a reason.
#pragma once

#include <string>
#include <variant>
#include <vector>

#include "proto/bytes.hpp"
#include "proto/error.hpp"

namespace ferry::proto {

inline constexpr std::size_t kMaxRendezvousFrame = std::size_t{64} * 1024;
inline constexpr int kRendezvousVersion = 1;
// The server's answer to a WebSocket path asked for as a plain GET (a proxy on the way removed
// the Upgrade header): 426 with this header set to "upgrade-missing", which a client turns into a
// sentence naming the proxy (its Via header).
inline constexpr std::string_view kRefusalHeader = "Ferry-Refusal";
inline constexpr std::string_view kUpgradeMissing = "upgrade-missing";

namespace rv {
// client -> server
struct Allocate {
  std::string nameplate;  // empty: let the server choose
  // 16 random bytes the sender picked for its code: sent again with the nameplate on a new
  // connection (the old one dropped, its server node restarted or died), they take the nameplate
  // back instead of finding it taken. Empty: none (older clients).
  Bytes resume;
  // A group send (`ferry send --receivers N`, `--many`): how many receivers may pair with this
  // code, one after another, each in its own session; 0: any number (until the sender stops or
  // the server's own bound). 1: an ordinary send.
  std::uint32_t receivers = 1;
  // The sender of a group send, on a new connection, asks for its next receiver (with the
  // nameplate and its resume token): it says the last pairing's code was right. Never creates a
  // nameplate or pairs with a receiver waiting under an unheld one.
  bool next = false;
};
inline constexpr std::size_t kResumeTokenBytes = 16;
// The most receivers one Allocate may ask for (0, any number, is bounded by the server).
inline constexpr std::uint32_t kMaxGroupReceivers = 100'000;
struct Claim {
  std::string nameplate;
  // When no sender holds the nameplate yet: wait for one to allocate it (a receiver that starts
  // first with a pre-agreed code) instead of failing with code_unknown. Still one guess.
  bool wait = false;
};
// both directions
struct Message {
  Bytes body;
};
// server -> client
struct Welcome {
  int version = kRendezvousVersion;
  std::string observed;                   // the client's address as the server sees it
  std::vector<std::uint16_t> stun_ports;  // UDP ports of the server's STUN responder
  // The server's relay over UDP (proto/relay_udp.hpp) on its host; 0: none.
  std::uint16_t relay_udp = 0;
};
struct Allocated {
  std::string nameplate;
};
struct Paired {
  Bytes session_id;      // random, 16 bytes; CPace's sid
  Bytes relay_grant;     // signed by the server (proto/relay_grant.hpp); both peers present it
  std::string observed;  // the client's address as the server sees it (behind NAT: the public one)
  std::string peer_observed;  // the other client's, the one address of the peer to trust
  // The relay both peers dial with the grant (a node of the server's cluster, server/cluster.hpp);
  // empty: the rendezvous server itself.
  std::string relay;
  // That relay's relay over UDP, on its host (0: none, or not said).
  std::uint16_t relay_udp = 0;
};
struct PeerLeft {};
// The claim waits for a sender (Claim::wait); "paired" follows when one allocates the nameplate.
struct Waiting {
  // The code belongs to a group send whose sender is busy proving another receiver's code: this
  // receiver is next in line (seconds, not minutes).
  bool queued = false;
};
struct ServerError {
  std::string code;
  std::string message;
};
}  // namespace rv

using ClientMessage = std::variant<rv::Allocate, rv::Claim, rv::Message>;
using ServerMessage = std::variant<rv::Welcome, rv::Allocated, rv::Paired, rv::Message,
                                   rv::PeerLeft, rv::ServerError, rv::Waiting>;

std::string encode_client(const ClientMessage& m);
std::string encode_server(const ServerMessage& m);
Result<ClientMessage> decode_client(std::string_view text);
Result<ServerMessage> decode_server(std::string_view text);

}  // namespace ferry::proto
