// A WebSocket client connection (text frames) with deadlines, used for the rendezvous channel.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <boost/beast/websocket.hpp>

#include "net/asio.hpp"
#include "proto/error.hpp"
#include "proto/server_url.hpp"

namespace ferry::net {

class WebSocketClient {
 public:
  using Stream = beast::websocket::stream<beast::tcp_stream>;

  static awaitable<proto::Result<std::unique_ptr<WebSocketClient>>> connect(
      const proto::ServerUrl& url, std::string target, std::chrono::milliseconds timeout);

  awaitable<proto::Result<void>> send(const std::string& text);
  // The next text message; a close or failure is an error (peer_gone-free: server_error).
  awaitable<proto::Result<std::string>> receive();
  void close();

  explicit WebSocketClient(Stream stream) : ws_(std::move(stream)) {}

 private:
  Stream ws_;
  beast::flat_buffer buffer_;
};

}  // namespace ferry::net
