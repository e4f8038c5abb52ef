// `ferry serve`: one TCP port that serves the web page, the rendezvous WebSocket and the relay.
// A connection is told apart by its first four bytes: the relay magic, or an HTTP request.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "net/asio.hpp"
#include "server/claim_limiter.hpp"
#include "server/relay.hpp"
#include "server/rendezvous.hpp"

namespace ferry::server {

struct ServerOptions {
  net::tcp::endpoint listen;
  std::string public_url;
  RendezvousLimits rendezvous;
  RelayLimits relay;
  std::chrono::seconds nameplate_ttl{3600};  // how long a code waits for its receiver
  std::size_t max_connections = 20'000;
  std::size_t claims_per_minute = 30;  // per client address; each claim burns a code
};

class Server {
 public:
  Server(net::asio::io_context& io, ServerOptions options);
  ~Server();

  // Binds the port; a failure is a start-up error for the CLI to explain.
  proto::Result<void> start();
  net::tcp::endpoint local_endpoint() const;
  // --public-url, or http://<bound address> when none was given.
  const std::string& public_url() const { return options_.public_url; }

 private:
  class RendezvousConnection;

  net::awaitable<void> accept_loop();
  net::awaitable<void> handle(net::tcp::socket socket);
  net::awaitable<void> serve_http(net::beast::tcp_stream stream, net::beast::flat_buffer buffer);

  net::asio::io_context& io_;
  ServerOptions options_;
  net::tcp::acceptor acceptor_;
  Relay relay_;
  Rendezvous rendezvous_;
  ClaimLimiter claims_;
  std::size_t connections_ = 0;
};

}  // namespace ferry::server
