#include "net/websocket_client.hpp"

#include <boost/beast/core/buffers_to_string.hpp>

#include "net/http_tunnel.hpp"
#include "net/tcp.hpp"
#include "proto/rendezvous_message.hpp"

namespace ferry::net {

namespace websocket = beast::websocket;
using proto::Errc;

namespace {
// The upgrade itself, over a connection made.
awaitable<error_code> handshake(WebSocket& ws, const proto::ServerUrl& url,
                                const std::string& target, std::chrono::milliseconds timeout,
                                websocket::response_type& res) {
  ws.next_layer().expires_after(timeout);
  error_code ec;
  co_await ws.async_handshake(res, url.host_header(), target, redirect(ec));
  ws.next_layer().expires_never();
  co_return ec;
}
}  // namespace

awaitable<proto::Result<WebSocket>> open_websocket(const proto::ServerUrl& url,
                                                   const std::string& target,
                                                   std::chrono::milliseconds timeout,
                                                   WebSocketRoute* route) {
  auto stream = co_await connect_server(url, timeout);
  if (!stream) co_return std::unexpected(stream.error());
  WebSocket ws(std::move(*stream));
  websocket::response_type res;
  error_code ec = co_await handshake(ws, url, target, timeout, res);
  if (ec && res.result() == beast::http::status::upgrade_required &&
      res[proto::kRefusalHeader] == proto::kUpgradeMissing) {
    // The server got a plain GET: something on the way removed the upgrade (squid does by
    // default). Its Via header names it, when it adds one. The same WebSocket then runs inside
    // ordinary HTTPS requests.
    const std::string via(res[beast::http::field::via].substr(0, 100));
    const std::string proxy =
        "a proxy" + (via.empty() ? std::string() : " (\"" + via + "\", from its Via header)");
    auto tunnel = co_await open_http_tunnel(url, timeout);
    if (!tunnel) {
      co_return proto::fail(
          Errc::server_unreachable,
          proxy + " on the way to " + url.to_string() +
              " removed the WebSocket upgrade from ferry's request, and carrying it over HTTPS "
              "requests failed too (" +
              tunnel.error().detail +
              "). The proxy's administrator can let WebSocket through (squid: "
              "http_upgrade_request_protocols websocket allow all)");
    }
    WebSocket inner(std::move(*tunnel));
    websocket::response_type inner_res;
    ec = co_await handshake(inner, url, target, timeout, inner_res);
    if (ec) {
      co_return proto::fail(Errc::server_unreachable,
                            url.to_string() +
                                " answered over HTTPS requests, but not as a ferry "
                                "server (" +
                                describe(ec) + ")");
    }
    if (route != nullptr) {
      route->tunneled = true;
      route->note = proxy + " removed the WebSocket upgrade; ferry carried on over HTTPS requests";
    }
    co_return inner;
  }
  if (ec) {
    co_return proto::fail(
        Errc::server_unreachable,
        url.to_string() + " answered, but not as a ferry server (" + describe(ec) + ")");
  }
  co_return ws;
}

awaitable<proto::Result<std::unique_ptr<WebSocketClient>>> WebSocketClient::connect(
    const proto::ServerUrl& url, std::string target, std::chrono::milliseconds timeout,
    WebSocketRoute* route) {
  auto ws = co_await open_websocket(url, target, timeout, route);
  if (!ws) co_return std::unexpected(ws.error());
  ws->read_message_max(proto::kMaxRendezvousFrame * 2);
  ws->set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
  co_return std::make_unique<WebSocketClient>(std::move(*ws));
}

awaitable<proto::Result<void>> WebSocketClient::send(const std::string& text) {
  error_code ec;
  ws_.text(true);
  co_await ws_.async_write(asio::buffer(text), redirect(ec));
  if (ec) co_return proto::fail(Errc::server_error, "lost the server connection: " + describe(ec));
  co_return proto::Result<void>{};
}

awaitable<proto::Result<std::string>> WebSocketClient::receive() {
  error_code ec;
  buffer_.clear();
  co_await ws_.async_read(buffer_, redirect(ec));
  if (ec == websocket::error::closed) {
    const auto reason = ws_.reason();
    co_return proto::fail(
        Errc::server_error,
        "the server closed the connection" +
            (reason.reason.empty() ? std::string() : ": " + std::string(reason.reason)));
  }
  if (ec) co_return proto::fail(Errc::server_error, "lost the server connection: " + describe(ec));
  co_return beast::buffers_to_string(buffer_.data());
}

void WebSocketClient::close() {
  ws_.next_layer().close();
}

}  // namespace ferry::net
