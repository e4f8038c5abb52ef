// TCP building blocks: resolving and connecting with a deadline, and this host's own addresses
// (the "host" candidates a sender offers).
#pragma once

#include <optional>

#include <chrono>
#include <string>
#include <vector>

#include "net/asio.hpp"
#include "proto/error.hpp"
#include "proto/stun.hpp"

namespace ferry::net {

// Resolves host and connects to the first address that answers, all within timeout; through the
// environment's CONNECT proxy when one applies (see net/proxy.hpp). For the server only.
awaitable<proto::Result<beast::tcp_stream>> connect_tcp(std::string host, std::uint16_t port,
                                                        std::chrono::milliseconds timeout);
// The same, never through a proxy.
awaitable<proto::Result<beast::tcp_stream>> connect_tcp_direct(std::string host, std::uint16_t port,
                                                               std::chrono::milliseconds timeout);
// max_segment, when not 0, is the largest TCP segment the connection sends and asks for
// (limit_segments).
awaitable<proto::Result<beast::tcp_stream>> connect_tcp(tcp::endpoint ep,
                                                        std::chrono::milliseconds timeout,
                                                        std::uint16_t max_segment = 0);

// Limits a TCP socket's segments, before it connects or listens (TCP_MAXSEG: the SYN's MSS
// option asks the peer for no larger ones, and the socket sends none larger), so that a path that
// black-holes full-sized packets carries the connection; 0 leaves the socket alone. False if the
// kernel refused.
bool limit_segments(int fd, std::uint16_t max_segment);

// How long a connection whose peer went silent lasts (tune_for_bulk): probes after kKeepIdle
// without a byte, then every kKeepInterval, kKeepProbes of them unanswered end it.
inline constexpr std::chrono::seconds kKeepIdle{10};
inline constexpr std::chrono::seconds kKeepInterval{5};
inline constexpr int kKeepProbes = 3;

// Readies a connected TCP socket for bulk bytes: no Nagle delay, keepalive probes (a peer whose
// path is gone is noticed within about half a minute, kKeepIdle), and BBR where the kernel lets
// this process choose it (root, or BBR in net.ipv4.tcp_allowed_congestion_control): loss-based
// CUBIC, the usual default, collapses on long lossy links. Refused quietly otherwise. Returns the
// congestion control the socket ends up with ("bbr", "cubic", ...; empty if unknown).
std::string tune_for_bulk(tcp::socket& s);
// What tune_for_bulk would get on this machine for this process (asked on a fresh socket).
std::string bulk_congestion_control(const asio::any_io_executor& ex);

// Addresses of this host's interfaces that are up, loopback first, link-local v6 left out.
std::vector<asio::ip::address> local_addresses();

// This host's IPv4 interfaces that are up, with their broadcast address when they have one.
struct Ipv4Interface {
  asio::ip::address_v4 address;
  std::optional<asio::ip::address_v4> broadcast;
  bool loopback = false;
  bool multicast = false;
};
std::vector<Ipv4Interface> ipv4_interfaces();

// ::ffff:a.b.c.d as a.b.c.d (what a dual-stack socket reports for IPv4 peers).
asio::ip::address unmapped(asio::ip::address a);

// The address in a codec's IpPort (4 or 16 bytes).
asio::ip::address address_of(const proto::IpPort& p);

// A short human description of a connect failure ("refused", "timed out", ...).
std::string describe(const error_code& ec);

}  // namespace ferry::net
