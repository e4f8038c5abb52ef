// Finding a sender on this network with no server at all (ferry send when no server is
// configured, or --lan): the receiver multicasts and broadcasts a query naming the code's number;
// a sender holding that number answers the query's source with the TCP port it listens on and a
// fresh session nonce. The PAKE then runs over that TCP connection with the code's words, and the
// sender gives up after one wrong guess, as the server's one-guess rule does.
//
// Datagram: "FERRYLAN" ‖ version (1) ‖ type (1 query, 2 answer) ‖ nameplate length ‖ nameplate ‖
// query nonce (16) ‖ for an answer: port (u16) ‖ session nonce (16).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "proto/bytes.hpp"
#include "proto/error.hpp"

namespace ferry::proto {

inline constexpr std::uint16_t kLanPort = 4302;
inline constexpr std::string_view kLanGroup = "239.255.70.82";  // administratively scoped
inline constexpr std::size_t kLanNonceBytes = 16;
inline constexpr std::size_t kLanMaxDatagram = 128;

struct LanQuery {
  std::string nameplate;
  Bytes nonce;  // the receiver's, echoed in the answer
};

struct LanAnswer {
  std::string nameplate;
  Bytes nonce;  // the query's
  std::uint16_t port = 0;
  Bytes session_nonce;  // the sender's, fresh per transfer: CPace's sid comes from it
};

using LanMessage = std::variant<LanQuery, LanAnswer>;

Bytes encode_lan(const LanMessage& m);
Result<LanMessage> decode_lan(ByteView datagram);
// CPace's session id for a LAN transfer.
Bytes lan_session_id(ByteView session_nonce);

}  // namespace ferry::proto
