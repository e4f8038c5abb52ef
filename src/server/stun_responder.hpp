// The STUN responder `ferry serve` runs beside its TCP port: Binding requests answered on two UDP
// ports (and two addresses when given a second one), honouring CHANGE-REQUEST from the other
// port/address, so clients can tell their NAT's mapping and filtering apart (RFC 5780). Answers
// RFC 3489 clients in their own form. Only Binding requests get an answer, and answers stay under
// 100 bytes: the small amplification every STUN server has.
#pragma once

#include <array>
#include <optional>
#include <vector>

#include <boost/asio/ip/udp.hpp>

#include "net/asio.hpp"
#include "proto/error.hpp"

namespace ferry::server {

class StunResponder {
 public:
  // ports: primary and alternate; alternate_ip: optional second address (same family).
  StunResponder(net::asio::io_context& io, net::asio::ip::address ip,
                std::array<std::uint16_t, 2> ports,
                std::optional<net::asio::ip::address> alternate_ip);

  proto::Result<void> start();
  std::array<std::uint16_t, 2> ports() const { return ports_; }

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
};

}  // namespace ferry::server
