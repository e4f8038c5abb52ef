// The HTTPS-request transport (docs/protocol.md, "Through proxies that refuse upgrades"): one
// connection's bytes carried by ordinary requests and responses, for networks whose proxy removes
// the WebSocket upgrade (squid with its defaults). What runs inside is exactly what runs on a
// connection to the server (the rendezvous WebSocket, the relay), so every limit holds for it.
//
//   POST /v1/tunnel                      -> 200, body: the tunnel's token (32 hex digits)
//   POST /v1/tunnel/<token>/up/<offset>  body: the client's bytes from stream offset <offset>;
//                                        ?fin after the last ones -> 204 once passed on
//   GET  /v1/tunnel/<token>/down/<offset> acknowledges every byte before <offset> and asks for
//                                        the next: 200 with up to kTunnelMaxBody bytes as soon as
//                                        there are some, 204 after a short hold without any, 410
//                                        once the connection inside has ended and all was read
//   Either: 404 unknown or expired token, 409 the direction's previous request is still being
//   carried out, 416 an offset the server cannot serve from.
//
// A lost request is sent again with the same offset: what arrived twice is skipped and what was
// sent but not acknowledged is sent again. A session is bound by its token (128 random bits),
// never by an address, and ends after kTunnelIdle without a request.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ferry::proto {

inline constexpr std::string_view kTunnelPath = "/v1/tunnel";
// The most one request or response carries: small enough for a proxy that buffers whole bodies.
inline constexpr std::size_t kTunnelMaxBody = std::size_t{512} << 10;
// How long a GET waits for bytes before answering 204 (a short long-poll: proxies that hold a
// response back until it is complete still deliver it soon).
inline constexpr std::chrono::milliseconds kTunnelHold{5000};
// A tunnel without any request for this long is gone, as a dropped connection would be.
inline constexpr std::chrono::seconds kTunnelIdle{30};

enum class TunnelDirection : std::uint8_t { up, down };

struct TunnelTarget {
  std::string token;
  TunnelDirection direction = TunnelDirection::up;
  std::uint64_t offset = 0;
  bool fin = false;  // up: the client sends nothing after these bytes
};

// A request target under /v1/tunnel/ (with its query); nullopt when malformed.
std::optional<TunnelTarget> parse_tunnel_target(std::string_view target);
std::string tunnel_target(const TunnelTarget& t);
// A token: 32 lowercase hex digits.
bool valid_tunnel_token(std::string_view token);

}  // namespace ferry::proto
