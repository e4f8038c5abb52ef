#include "server/routes.hpp"

#include <gtest/gtest.h>

namespace ferry::server {
namespace {

Route get(std::string_view path, bool metrics_elsewhere = false) {
  return route({.path = path, .metrics_elsewhere = metrics_elsewhere});
}
Route upgrade(std::string_view path) {
  return route({.websocket_upgrade = true, .path = path});
}

TEST(Routes, TheMainPortServesPagesWebSocketsAndDownloads) {
  EXPECT_EQ(get("/"), Route::page);
  EXPECT_EQ(get("/r"), Route::page);
  EXPECT_EQ(get("/healthz"), Route::page);  // pages.cpp answers it
  // A WebSocket path without its upgrade (a proxy removed it): a 426 that says so, not a 404.
  EXPECT_EQ(get("/v1/rendezvous"), Route::upgrade_missing);
  EXPECT_EQ(get("/v1/relay"), Route::upgrade_missing);
  EXPECT_EQ(get("/v1/rendezvous/x"), Route::page);
  EXPECT_EQ(upgrade("/v1/rendezvous"), Route::rendezvous);
  EXPECT_EQ(upgrade("/v1/relay"), Route::relay);
  EXPECT_EQ(upgrade("/v1/relay/"), Route::websocket_not_found);
  EXPECT_EQ(upgrade("/v1"), Route::wormhole_mailbox);  // magic-wormhole clients
  EXPECT_EQ(upgrade("/v1/"), Route::websocket_not_found);
  EXPECT_EQ(get("/v1"), Route::upgrade_missing);
  EXPECT_EQ(upgrade("/"), Route::websocket_not_found);
  EXPECT_EQ(upgrade("/v1/relay/down/00"), Route::websocket_not_found);
  EXPECT_EQ(get("/v1/relay/down/0123"), Route::relay_download);
  EXPECT_EQ(route({.get = false, .path = "/v1/relay/down/0123"}), Route::page);  // POST, HEAD
  EXPECT_EQ(get("/v1/relay/dow"), Route::page);
  // The HTTPS-request tunnel (proto/http_tunnel.hpp): opened by POST, used by GET and POST.
  EXPECT_EQ(route({.get = false, .post = true, .path = "/v1/tunnel"}), Route::tunnel_open);
  EXPECT_EQ(get("/v1/tunnel"), Route::page);
  EXPECT_EQ(route({.get = false, .post = true, .path = "/v1/tunnel/x/up/0"}), Route::tunnel);
  EXPECT_EQ(get("/v1/tunnel/x/down/0"), Route::tunnel);
  EXPECT_EQ(route({.get = false, .path = "/v1/tunnel/x/down/0"}), Route::page);  // PUT, HEAD
  EXPECT_EQ(upgrade("/v1/tunnel"), Route::websocket_not_found);
}

TEST(Routes, MetricsAreOnTheMetricsPortWhenThereIsOne) {
  EXPECT_EQ(get("/metrics"), Route::metrics);
  EXPECT_EQ(get("/metrics", true), Route::page);
  EXPECT_EQ(get("/metrics/", false), Route::page);
  EXPECT_EQ(route({.metrics_port = true, .path = "/metrics"}), Route::metrics);
  EXPECT_EQ(route({.metrics_port = true, .path = "/healthz"}), Route::healthz);
  EXPECT_EQ(route({.metrics_port = true, .path = "/"}), Route::metrics_not_found);
  // No WebSocket and no download on the metrics port.
  EXPECT_EQ(route({.metrics_port = true, .websocket_upgrade = true, .path = "/v1/relay"}),
            Route::metrics_not_found);
  EXPECT_EQ(route({.metrics_port = true, .path = "/v1/relay/down/0123"}), Route::metrics_not_found);
}

}  // namespace
}  // namespace ferry::server
