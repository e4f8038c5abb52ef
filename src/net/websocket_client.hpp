// A WebSocket client connection (text frames) with deadlines, used for the rendezvous channel;
// and the opening handshake it shares with the relay's WebSocket transport.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <boost/beast/websocket.hpp>

#include "net/byte_stream.hpp"
#include "proto/error.hpp"
#include "proto/server_url.hpp"

namespace ferry::net {

// How a WebSocket reached the server.
struct WebSocketRoute {
  // A proxy removed the upgrade, and the WebSocket runs inside HTTPS requests (http_tunnel.hpp).
  bool tunneled = false;
  std::string note;  // then, the sentence that says so
};

// Connects to the server (TLS for https://) and upgrades to a WebSocket on target; where a proxy
// removes the upgrade, the same inside a tunnel of HTTPS requests.
awaitable<proto::Result<WebSocket>> open_websocket(const proto::ServerUrl& url,
                                                   const std::string& target,
                                                   std::chrono::milliseconds timeout,
                                                   WebSocketRoute* route = nullptr);

class WebSocketClient {
 public:
  using Stream = WebSocket;

  static awaitable<proto::Result<std::unique_ptr<WebSocketClient>>> connect(
      const proto::ServerUrl& url, std::string target, std::chrono::milliseconds timeout,
      WebSocketRoute* route = nullptr);

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
