// Who a connection or datagram comes from, as the server's limits see it. IPv4 clients are their
// address; IPv6 clients are grouped by their /64, because one home or phone gets a whole /64 and
// could otherwise take a fresh address for every connection. Every per-address limit (connections,
// claims, relay, STUN) counts by the group.
#pragma once

#include <string>

#include <boost/asio/ip/address.hpp>

namespace ferry::server {

struct ClientAddress {
  std::string ip;     // the address itself (v4-mapped v6 shown as v4): what the client is told
  std::string group;  // what limits count by: the IPv4 address, or "2001:db8:1:2::/64"
};

ClientAddress client_address(const boost::asio::ip::address& a);

}  // namespace ferry::server
