#include "server/relay_link.hpp"

#include <boost/asio/write.hpp>

namespace ferry::server {

using namespace net;
namespace websocket = beast::websocket;
using proto::RelayStatus;

namespace {

class RawLink : public RelayLink {
 public:
  explicit RawLink(AnyStream s) : s_(std::move(s)) {}
  awaitable<std::size_t> read_some(asio::mutable_buffer b, error_code& ec) override {
    co_return co_await s_.async_read_some(b, redirect(ec));
  }
  awaitable<void> send_status(RelayStatus s, error_code& ec) override {
    const auto b = static_cast<std::uint8_t>(s);
    co_await asio::async_write(s_, asio::buffer(&b, 1), redirect(ec));
  }
  awaitable<void> send_data(asio::const_buffer b, error_code& ec) override {
    const auto header = proto::encode_relay_data_header(static_cast<std::uint32_t>(b.size()));
    const std::array<asio::const_buffer, 2> both{asio::buffer(header), b};
    co_await asio::async_write(s_, both, redirect(ec));
  }
  awaitable<void> send_eof() override {
    s_.shutdown_send();
    co_return;
  }
  awaitable<void> end(RelayStatus s, std::string_view text) override {
    const auto frame = proto::encode_relay_end(s, text);
    error_code ec;
    s_.expires_after(std::chrono::seconds(5));
    co_await asio::async_write(s_, asio::buffer(frame), redirect(ec));
    close();
  }
  void expires_after(std::chrono::steady_clock::duration d) override { s_.expires_after(d); }
  void expires_never() override { s_.expires_never(); }
  void close() override { s_.close(); }

 private:
  AnyStream s_;
};

class WebSocketLink : public RelayLink {
 public:
  explicit WebSocketLink(WebSocket ws) : ws_(std::move(ws)) {
    ws_.binary(true);
    ws_.auto_fragment(false);  // one frame per forwarded chunk, not 4 KiB pieces
  }
  awaitable<std::size_t> read_some(asio::mutable_buffer b, error_code& ec) override {
    // Message boundaries mean nothing to the relay: read straight into the forwarding buffer.
    const std::size_t n = co_await ws_.async_read_some(b, redirect(ec));
    if (ec == websocket::error::closed) ec = asio::error::eof;
    co_return n;
  }
  awaitable<void> send_status(RelayStatus s, error_code& ec) override {
    const auto b = static_cast<std::uint8_t>(s);
    co_await ws_.async_write(asio::buffer(&b, 1), redirect(ec));
  }
  awaitable<void> send_data(asio::const_buffer b, error_code& ec) override {
    co_await ws_.async_write(b, redirect(ec));
  }
  awaitable<void> send_eof() override {
    error_code ec;
    ws_.next_layer().expires_after(std::chrono::seconds(5));
    co_await ws_.async_close(websocket::close_code::normal, redirect(ec));
  }
  awaitable<void> end(RelayStatus s, std::string_view text) override {
    // A close reason must fit in a control frame.
    websocket::close_reason reason;
    reason.code = static_cast<std::uint16_t>(proto::kRelayCloseBase + static_cast<std::uint8_t>(s));
    reason.reason = text.substr(0, 120);
    error_code ec;
    ws_.next_layer().expires_after(std::chrono::seconds(5));
    co_await ws_.async_close(reason, redirect(ec));
    close();
  }
  void expires_after(std::chrono::steady_clock::duration d) override {
    ws_.next_layer().expires_after(d);
  }
  void expires_never() override { ws_.next_layer().expires_never(); }
  void close() override { ws_.next_layer().close(); }

 private:
  WebSocket ws_;
};

}  // namespace

std::unique_ptr<RelayLink> raw_relay_link(AnyStream s) {
  return std::make_unique<RawLink>(std::move(s));
}

std::unique_ptr<RelayLink> websocket_relay_link(WebSocket ws) {
  return std::make_unique<WebSocketLink>(std::move(ws));
}

}  // namespace ferry::server
