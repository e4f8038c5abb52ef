// The STUN responder `ferry serve` runs beside its TCP port: Binding requests answered on two UDP
// ports (and two addresses when given a second one), honouring CHANGE-REQUEST from the other
// port/address, so clients can tell their NAT's mapping and filtering apart (RFC 5780). Answers
// RFC 3489 clients in their own form. Only Binding requests get an answer.
// UDP sources can be forged, so a responder is an amplifier: a 20-byte request earns an answer of
// at most 100 bytes (88 for a usual RFC 5780 answer: 4.4x). Answers are rate limited per source
// address group and in all, which caps what the server can be made to send anyone at
// total_per_second x 100 bytes a second (docs/operations.md). An answer leaves from the address the
// request arrived on (IP_PKTINFO / IPV6_RECVPKTINFO), so a host with several addresses on a
// wildcard socket answers from the one the client asked, which its firewall expects.
#pragma once

#include <array>
#include <optional>
#include <vector>

#include <boost/asio/ip/udp.hpp>

#include "net/asio.hpp"
#include "proto/error.hpp"
#include "server/rate_limiter.hpp"

namespace ferry::server {

struct StunStats {
  std::uint64_t answered = 0;
  std::uint64_t limited_address = 0;  // over the per-source rate
  std::uint64_t limited_total = 0;    // over the responder's total rate
};

class StunResponder {
 public:
  // ports: primary and alternate; alternate_ip: optional second address (same family).
  StunResponder(net::asio::io_context& io, net::asio::ip::address ip,
                std::array<std::uint16_t, 2> ports,
                std::optional<net::asio::ip::address> alternate_ip, RateBuckets::Limits rate);

  proto::Result<void> start();
  void stop();
  std::array<std::uint16_t, 2> ports() const { return ports_; }
  const StunStats& stats() const { return stats_; }

 private:
  using udp = net::asio::ip::udp;
  net::awaitable<void> serve(std::size_t index);
  // Socket index for address a (0/1) and port p (0/1).
  std::size_t index(std::size_t a, std::size_t p) const { return a * 2 + p; }

  net::asio::io_context& io_;
  std::vector<net::asio::ip::address> ips_;
  std::array<std::uint16_t, 2> ports_;
  std::vector<udp::socket> sockets_;
  std::vector<udp::endpoint> locals_;
  RateBuckets rate_;
  StunStats stats_;
};

}  // namespace ferry::server
