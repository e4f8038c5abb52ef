#include "server/routes.hpp"

#include <algorithm>
#include <array>

namespace ferry::server {

namespace {

enum class Port : std::uint8_t { main, metrics };
enum class Kind : std::uint8_t {
  any,
  websocket,
  get,
  get_or_post,
  post
};  // what the request must be

struct Entry {
  Port port;
  Kind kind;
  std::string_view path;
  bool prefix;                // path is a prefix ("" matches everything)
  bool only_without_metrics;  // only when the server has no metrics port
  Route route;
};

// First match wins.
constexpr std::array kRoutes{
    Entry{Port::metrics, Kind::any, "/metrics", false, false, Route::metrics},
    Entry{Port::metrics, Kind::any, "/healthz", false, false, Route::healthz},
    Entry{Port::metrics, Kind::any, "", true, false, Route::metrics_not_found},
    Entry{Port::main, Kind::websocket, "/v1/rendezvous", false, false, Route::rendezvous},
    Entry{Port::main, Kind::websocket, "/v1/relay", false, false, Route::relay},
    Entry{Port::main, Kind::websocket, "/v1", false, false, Route::wormhole_mailbox},
    Entry{Port::main, Kind::websocket, "", true, false, Route::websocket_not_found},
    Entry{Port::main, Kind::get, kRelayDownloadPath, true, false, Route::relay_download},
    // The WebSocket paths asked for without an upgrade: what a client behind a proxy that strips
    // Upgrade (squid's default) sends. Answered 426 with a sentence, not the page's 404.
    Entry{Port::main, Kind::get, "/v1/rendezvous", false, false, Route::upgrade_missing},
    Entry{Port::main, Kind::get, "/v1/relay", false, false, Route::upgrade_missing},
    Entry{Port::main, Kind::get, "/v1", false, false, Route::upgrade_missing},
    Entry{Port::main, Kind::post, "/v1/tunnel", false, false, Route::tunnel_open},
    Entry{Port::main, Kind::get_or_post, "/v1/tunnel/", true, false, Route::tunnel},
    Entry{Port::main, Kind::any, "/metrics", false, true, Route::metrics},
};

}  // namespace

bool valid_ticket(std::string_view t) {
  return t.size() == 32 && std::all_of(t.begin(), t.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

Route route(const RouteRequest& r) {
  const Port port = r.metrics_port ? Port::metrics : Port::main;
  for (const auto& e : kRoutes) {
    if (e.port != port) continue;
    if (e.kind == Kind::websocket && !r.websocket_upgrade) continue;
    if (e.kind == Kind::get && (!r.get || r.websocket_upgrade)) continue;
    if (e.kind == Kind::post && (!r.post || r.websocket_upgrade)) continue;
    if (e.kind == Kind::get_or_post && (!(r.get || r.post) || r.websocket_upgrade)) continue;
    if (e.only_without_metrics && r.metrics_elsewhere) continue;
    if (e.prefix ? !r.path.starts_with(e.path) : r.path != e.path) continue;
    return e.route;
  }
  return Route::page;  // every upgrade and every metrics-port request matched above
}

}  // namespace ferry::server
