// `ferry serve`: one TCP port that serves the web page, the rendezvous WebSocket, the relay (raw or
// WebSocket), the metrics, and for magic-wormhole clients its mailbox (WebSocket /v1) and transit
// relay. A connection is told apart by its first bytes: a TLS handshake (when the server has a
// certificate), the relay magic, wormhole's "please relay", or an HTTP request.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "net/any_stream.hpp"
#include "server/client_address.hpp"
#include "server/cluster.hpp"
#include "server/connection_table.hpp"
#include "server/dispatch.hpp"
#include "server/http_tunnel.hpp"
#include "server/metrics.hpp"
#include "server/rate_limiter.hpp"
#include "server/relay.hpp"
#include "server/rendezvous.hpp"
#include "server/routes.hpp"
#include "server/stun_responder.hpp"
#include "server/udp_relay.hpp"
#include "server/wormhole_mailbox.hpp"

namespace ferry::server {

struct ServerOptions {
  net::tcp::endpoint listen;
  std::string public_url;
  RendezvousLimits rendezvous;
  RelayLimits relay;
  WormholeMailboxLimits wormhole;            // magic-wormhole's mailbox at /v1
  std::chrono::seconds nameplate_ttl{3600};  // how long a code waits for its receiver
  ConnectionLimits connections;              // in all, and per address group
  // New connections a second from one address group (bursts of twice that): keeps a flood's
  // churn slower than an honest client's round trip (connection_table.hpp).
  RateBuckets::Limits connect_rate{20, 40, 0, 100'000};
  std::size_t claims_per_minute = 30;  // per client address; each claim burns a code
  // Deadlines for each stage of a connection that has not yet proved it is a client.
  std::chrono::seconds handshake_timeout{10};  // its first bytes, and a TLS handshake
  std::chrono::seconds request_timeout{10};    // one HTTP request, or the wait for the next one
  std::chrono::seconds unbound_timeout{30};    // a rendezvous WebSocket that has no code yet
  std::size_t requests_per_connection = 100;   // HTTP keep-alive
  std::optional<net::tcp::endpoint> metrics_listen;  // /metrics only there, when given
  RateBuckets::Limits stun_rate{10, 20, 2000, 100'000};
  std::string tls_cert;  // PEM files: TLS on the same port beside plain TCP
  std::string tls_key;
  std::optional<proto::RelayKey> relay_key;  // shared by a pool of servers; random when unset
  bool relay_enabled = true;                 // false: issue no grants (rendezvous only)
  // A cluster (cluster.hpp): the rendezvous state in this Redis, this node's relay in its pool,
  // announced as relay_url (default: public_url).
  std::optional<proto::RedisUrl> redis;
  std::string relay_url;
  // STUN on UDP: the primary and alternate ports (0: the TCP port, and the next one) and an
  // optional second address, so clients can classify their NAT; stun false: none.
  bool stun = true;
  std::array<std::uint16_t, 2> stun_ports{0, 0};
  std::optional<net::asio::ip::address> stun_alternate_ip;
  // The relay over UDP (udp_relay.hpp) beside the TCP relay, on this UDP port (0: the one after
  // the STUN ports, or any free one when that is taken); relay_udp false: none.
  bool relay_udp = true;
  std::uint16_t relay_udp_port = 0;
};

class Server {
 public:
  Server(net::asio::io_context& io, ServerOptions options);
  ~Server();

  // Binds the port; a failure is a start-up error for the CLI to explain.
  proto::Result<void> start();
  net::tcp::endpoint local_endpoint() const;
  std::optional<net::tcp::endpoint> metrics_endpoint() const;
  // Reads --tls-cert and --tls-key again (SIGHUP): new connections get the new certificate;
  // on failure the old one stays.
  proto::Result<void> reload_tls();
  // SIGTERM: stops accepting, lets relayed transfers run on for at most `drain`, then returns.
  net::awaitable<void> drain(std::chrono::seconds drain);
  // The STUN responder's UDP ports (empty without one).
  const std::vector<std::uint16_t>& stun_ports() const { return stun_ports_; }
  // The relay's UDP port (0 without one).
  std::uint16_t relay_udp_port() const { return udp_relay_ ? udp_relay_->port() : 0; }
  // --public-url, or http://<bound address> when none was given.
  const std::string& public_url() const { return options_.public_url; }

 private:
  class RendezvousConnection;
  class Registry;
  struct Connection;  // one admitted connection: its id, client and slot in the registry
  enum class Port { main, metrics };

  net::awaitable<void> accept_loop(net::tcp::acceptor& acceptor, Port port);
  // Admits, refuses or makes room for a new connection (connection_table.hpp).
  void admit(net::tcp::socket socket, Port port);
  // A place in the connection table for a connection from client whose socket is handle (to
  // evict it); nullptr when refused (counted and logged).
  std::shared_ptr<Connection> admit_client(ClientAddress client, int handle);
  net::awaitable<void> handle(net::tcp::socket socket, std::shared_ptr<Connection> conn);
  // After the first bytes were read (and TLS, if any, was set up): relay or HTTP.
  net::awaitable<void> dispatch(net::AnyStream stream, std::array<std::uint8_t, 4> first,
                                std::shared_ptr<Connection> conn);
  // A magic-wormhole transit relay connection: its "please relay" line, then the relay.
  net::awaitable<void> serve_transit_relay(net::AnyStream stream, std::array<std::uint8_t, 4> first,
                                           std::shared_ptr<Connection> conn);
  net::awaitable<void> serve_http(net::AnyStream stream, net::beast::flat_buffer buffer,
                                  std::shared_ptr<Connection> conn, Port port);
  net::awaitable<void> serve_websocket(net::AnyStream stream,
                                       net::beast::http::request<net::beast::http::string_body> req,
                                       Dispatch d, std::shared_ptr<Connection> conn);
  // Counts a refusal or a deadline under its reason and logs it (throttled).
  void refused(std::string_view reason, const ClientAddress& client, std::string_view detail = {});
  // GET /v1/relay/down/<ticket>: this connection becomes the body of a browser's relay bytes.
  // cors: the request came from a page of this server's public origin (a cluster's page on
  // another node): it may read the bytes.
  net::awaitable<void> serve_relay_download(net::AnyStream stream, std::string_view ticket,
                                            unsigned version, bool cors,
                                            std::shared_ptr<Connection> conn);
  // POST /v1/tunnel and /v1/tunnel/<token>/... (http_tunnel.hpp).
  net::awaitable<net::beast::http::response<net::beast::http::string_body>> serve_tunnel(
      const net::beast::http::request<net::beast::http::string_body>& req, const Dispatch& d,
      const std::shared_ptr<Connection>& conn);
  std::string metrics() const;
  // /healthz: ready unless the cluster's Redis is unreachable (then 503 and why).
  std::pair<bool, std::string> health() const;
  // The pages' Content-Security-Policy: a cluster node's lets them reach every relay of the pool.
  std::string content_security_policy() const;

  net::asio::io_context& io_;
  ServerOptions options_;
  std::string origin_;  // of the public URL: the only Origin a browser's WebSocket may come from
  bool origin_from_host_ = false;  // no --public-url: also the origin named by the Host header
  net::tcp::acceptor acceptor_;
  net::tcp::acceptor metrics_acceptor_;
  std::shared_ptr<Registry> registry_;
  RateBuckets connect_rate_;
  bool draining_ = false;
  std::shared_ptr<net::asio::ssl::context> tls_;
  Relay relay_;
  RelayDownloads downloads_;
  WormholeMailbox wormhole_;  // browsers' split relay connections
  HttpTunnels tunnels_;
  std::unique_ptr<RendezvousService> rendezvous_;
  ClusterRendezvous* cluster_ = nullptr;  // rendezvous_, when it is a cluster's
  AddressRateLimiter claims_;
  ServerCounters counters_;
  std::unique_ptr<StunResponder> stun_;
  std::vector<std::uint16_t> stun_ports_;  // told to clients in the welcome
  std::unique_ptr<UdpRelay> udp_relay_;
};

}  // namespace ferry::server
