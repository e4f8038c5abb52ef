// The server's end of the HTTPS-request transport (proto/http_tunnel.hpp): each tunnel is one end
// of a connected socket pair whose other end the server serves exactly like an accepted
// connection (rendezvous WebSocket, relay, with every limit and deadline of those). Requests move
// bytes between their bodies and this end; the tunnel keeps only what it sent down and was not
// yet acknowledged, charged to the client address's queue budget. A tunnel holds three
// descriptors (the pair and a second one for reading) for its one place in the connection table.
#pragma once

#include <boost/asio/local/stream_protocol.hpp>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "net/asio.hpp"
#include "proto/http_tunnel.hpp"
#include "server/outgoing_frames.hpp"

namespace ferry::server {

struct TunnelAnswer {
  unsigned status = 200;  // 200 bytes, 204 none yet / accepted, 404, 409, 410
  std::string body;
};

class HttpTunnels {
 public:
  struct Tunnel;

  explicit HttpTunnels(net::asio::any_io_executor ex) : ex_(std::move(ex)) {}
  // A new tunnel over `pump` (the socket pair's end the requests feed and drain): its token.
  // budget: what its unacknowledged bytes are charged to (its client address's).
  std::string open(net::asio::local::stream_protocol::socket pump,
                   std::shared_ptr<QueueBudget> budget);
  // Carries one request out (the target already parsed); the body is an up request's bytes.
  net::awaitable<TunnelAnswer> serve(const proto::TunnelTarget& target, std::string_view body);

 private:
  net::awaitable<void> expire(std::shared_ptr<Tunnel> t);
  net::awaitable<TunnelAnswer> up(Tunnel& t, const proto::TunnelTarget& target,
                                  std::string_view body);
  net::awaitable<TunnelAnswer> down(Tunnel& t, std::uint64_t offset);
  void end(Tunnel& t);

  net::asio::any_io_executor ex_;
  std::map<std::string, std::shared_ptr<Tunnel>, std::less<>> tunnels_;
};

}  // namespace ferry::server
