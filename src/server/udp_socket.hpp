// What the server's UDP sockets (the STUN responder, the UDP relay) share: datagrams read with
// the local address each arrived on (IP_PKTINFO / IPV6_RECVPKTINFO), and answers sent from that
// address, so a host with several addresses on a wildcard socket answers from the one the client
// asked, which its firewall expects.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <optional>
#include <span>

#include <boost/asio/ip/udp.hpp>

#include "net/asio.hpp"
#include "proto/bytes.hpp"

namespace ferry::server {

// Asks the kernel to say which local address each datagram arrived on.
void want_arrival_address(net::asio::ip::udp::socket& s);

// A control message buffer big enough for one IPv4 or IPv6 packet-info record.
using Control =
    std::array<std::uint8_t, CMSG_SPACE(sizeof(in6_pktinfo)) + CMSG_SPACE(sizeof(in_pktinfo))>;

struct Datagram {
  std::size_t size = 0;
  net::asio::ip::udp::endpoint from;
  Control control{};
  std::size_t control_size = 0;  // the arrival address record, as received (0: none)
  std::optional<net::asio::ip::address> arrival;
};

// recvmsg once the socket is readable; false when nothing was there.
bool receive(net::asio::ip::udp::socket& s, std::span<std::uint8_t> buf, Datagram& d);

// Sends from the given arrival address (control), or as the socket is bound when control is
// empty. A full send buffer drops the datagram, as the network might.
void send_from(net::asio::ip::udp::socket& s, proto::ByteView payload,
               const net::asio::ip::udp::endpoint& to, const Control* control,
               std::size_t control_size);

}  // namespace ferry::server
