// The server's HTTP routes as one table: which handler a request goes to, from the port it came
// in on, whether it asks for a WebSocket, its method and its path. Pure (no I/O), so every route
// and every near miss is unit-tested; server.cpp only carries out the answer.
#pragma once

#include <cstdint>
#include <string_view>

namespace ferry::server {

enum class Route : std::uint8_t {
  metrics,              // Prometheus text (on the metrics port, or here when there is none)
  healthz,              // "ok"
  metrics_not_found,    // anything else on the metrics port
  rendezvous,           // WebSocket /v1/rendezvous
  relay,                // WebSocket /v1/relay (?down=<ticket> for a browser's download link)
  wormhole_mailbox,     // WebSocket /v1: magic-wormhole's mailbox protocol
  websocket_not_found,  // a WebSocket upgrade anywhere else
  relay_download,       // GET /v1/relay/down/<ticket>: relayed bytes as a download
  upgrade_missing,      // a WebSocket path as a plain GET: a proxy may have removed the Upgrade
  tunnel_open,          // POST /v1/tunnel: a connection carried by HTTPS requests (http_tunnel.hpp)
  tunnel,               // GET or POST /v1/tunnel/<token>/...: its bytes
  page,                 // the page, its assets, /healthz, or a 404 (pages.hpp)
};

struct RouteRequest {
  bool metrics_port = false;       // arrived on --metrics-listen's port
  bool websocket_upgrade = false;  // asks to become a WebSocket
  bool get = true;                 // the method is GET
  bool post = false;               // the method is POST
  std::string_view path;           // the target without its query
  bool metrics_elsewhere = false;  // the server has a metrics port: no /metrics on the main one
};

// Where a browser fetches the relay's bytes for it: GET <this><ticket> (relay_link.hpp).
constexpr std::string_view kRelayDownloadPath = "/v1/relay/down/";

// A relay download ticket: 32 lowercase hex digits (128 random bits).
bool valid_ticket(std::string_view ticket);

Route route(const RouteRequest& request);

}  // namespace ferry::server
