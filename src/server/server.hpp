// `ferry serve`: one TCP port that serves the web page, the rendezvous WebSocket, the relay (raw or
// WebSocket) and the metrics. A connection is told apart by its first bytes: a TLS handshake (when
// the server has a certificate), the relay magic, or an HTTP request.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "net/any_stream.hpp"
#include "server/metrics.hpp"
#include "server/rate_limiter.hpp"
#include "server/relay.hpp"
#include "server/rendezvous.hpp"
#include "server/stun_responder.hpp"

namespace ferry::server {

struct ServerOptions {
  net::tcp::endpoint listen;
  std::string public_url;
  RendezvousLimits rendezvous;
  RelayLimits relay;
  std::chrono::seconds nameplate_ttl{3600};  // how long a code waits for its receiver
  std::size_t max_connections = 20'000;
  std::size_t claims_per_minute = 30;  // per client address; each claim burns a code
  std::string tls_cert;                // PEM files: TLS on the same port beside plain TCP
  std::string tls_key;
  std::optional<proto::RelayKey> relay_key;  // shared by a pool of servers; random when unset
  bool relay_enabled = true;                 // false: issue no grants (rendezvous only)
  // STUN on UDP: the primary and alternate ports (0: the TCP port, and the next one) and an
  // optional second address, so clients can classify their NAT; stun false: none.
  bool stun = true;
  std::array<std::uint16_t, 2> stun_ports{0, 0};
  std::optional<net::asio::ip::address> stun_alternate_ip;
};

class Server {
 public:
  Server(net::asio::io_context& io, ServerOptions options);
  ~Server();

  // Binds the port; a failure is a start-up error for the CLI to explain.
  proto::Result<void> start();
  net::tcp::endpoint local_endpoint() const;
  // The STUN responder's UDP ports (empty without one).
  const std::vector<std::uint16_t>& stun_ports() const { return stun_ports_; }
  // --public-url, or http://<bound address> when none was given.
  const std::string& public_url() const { return options_.public_url; }

 private:
  class RendezvousConnection;

  net::awaitable<void> accept_loop();
  net::awaitable<void> handle(net::tcp::socket socket);
  // After the first bytes were read (and TLS, if any, was set up): relay or HTTP.
  net::awaitable<void> dispatch(net::AnyStream stream, std::array<std::uint8_t, 4> first,
                                std::string address);
  net::awaitable<void> serve_http(net::AnyStream stream, net::beast::flat_buffer buffer,
                                  std::string address);
  // GET /v1/relay/down/<ticket>: this connection becomes the body of a browser's relay bytes.
  net::awaitable<void> serve_relay_download(net::AnyStream stream, std::string_view ticket,
                                            unsigned version);
  std::string metrics() const;

  net::asio::io_context& io_;
  ServerOptions options_;
  net::tcp::acceptor acceptor_;
  std::shared_ptr<net::asio::ssl::context> tls_;
  Relay relay_;
  RelayDownloads downloads_;  // browsers' split relay connections
  Rendezvous rendezvous_;
  AddressRateLimiter claims_;
  ServerCounters counters_;
  std::unique_ptr<StunResponder> stun_;
  std::vector<std::uint16_t> stun_ports_;  // told to clients in the welcome
};

}  // namespace ferry::server
