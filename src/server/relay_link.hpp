// One client's connection to the relay, whatever carries it: a raw TCP/TLS connection (the relay
// writes its frames, proto/relay_hello.hpp) or a WebSocket (binary messages; the end is a close
// frame). The relay forwards between any two, so a browser on a WebSocket meets a CLI on TCP.
#pragma once

#include <memory>
#include <string_view>

#include "net/byte_stream.hpp"
#include "proto/relay_hello.hpp"

namespace ferry::server {

class RelayLink {
 public:
  virtual ~RelayLink() = default;
  // Bytes the client sent; eof when it stopped sending.
  virtual net::awaitable<std::size_t> read_some(net::asio::mutable_buffer b,
                                                net::error_code& ec) = 0;
  virtual net::awaitable<void> send_status(proto::RelayStatus s, net::error_code& ec) = 0;
  // Bytes from the peer, after "paired".
  virtual net::awaitable<void> send_data(net::asio::const_buffer b, net::error_code& ec) = 0;
  // The peer stopped sending: pass that on.
  virtual net::awaitable<void> send_eof() = 0;
  // Says why the relay ends this session, then closes.
  virtual net::awaitable<void> end(proto::RelayStatus s, std::string_view text) = 0;
  virtual void expires_after(std::chrono::steady_clock::duration d) = 0;
  virtual void expires_never() = 0;
  virtual void close() = 0;
};

std::unique_ptr<RelayLink> raw_relay_link(net::AnyStream s);
std::unique_ptr<RelayLink> websocket_relay_link(net::WebSocket ws);

}  // namespace ferry::server
