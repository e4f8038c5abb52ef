// One UDP socket ferry owns: it asks STUN what the NAT made of it, carries the hole-punching
// probes and then QUIC, all on the same port so the NAT mapping the probes opened is the one QUIC
// uses. What arrives is told apart on its first bytes (proto::classify_datagram) and handed on.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>

#include <boost/asio/ip/udp.hpp>

#include "net/asio.hpp"
#include "proto/bytes.hpp"
#include "proto/error.hpp"
#include "proto/stun.hpp"

namespace ferry::net {

using udp = asio::ip::udp;

// Datagrams leave whole, "don't fragment" set, whatever the kernel learnt of the path's MTU from
// ICMP (IP_PMTUDISC_PROBE, and IPv6's): QUIC finds the path's MTU with its own probes (RFC 8899,
// ngtcp2's), and one the kernel fragmented would pass for a size the path carries, after which
// its segmented sends are refused (EMSGSIZE) and the connection stalls.
void send_whole_datagrams(udp::socket& s);

class UdpMux : public std::enable_shared_from_this<UdpMux> {
 public:
  using Handler = std::function<void(proto::ByteView, const udp::endpoint&)>;
  // Returns false when the datagram was not a valid probe after all (it then goes to QUIC).
  using ProbeHandler = std::function<bool(proto::ByteView, const udp::endpoint&)>;

  // A socket bound to bind_to (port 0: any); dual-stack when bind_to is IPv6 "::".
  static proto::Result<std::shared_ptr<UdpMux>> open(const asio::any_io_executor& ex,
                                                     const udp::endpoint& bind_to);
  ~UdpMux();

  udp::endpoint local_endpoint() const;
  bool v6() const { return v6_; }
  asio::any_io_executor executor() { return socket_.get_executor(); }
  // Starts the receive loop; handlers may be set before or after.
  void start();
  void close();

  // Sends one datagram now or not at all (UDP: a full socket buffer is a lost packet, which the
  // protocols above recover from). Returns would_block when the kernel's buffer is full.
  error_code send(proto::ByteView datagram, const udp::endpoint& to);
  // Several datagrams of segment bytes each (the last may be shorter), back to back in data, in
  // one system call where the kernel segments them (UDP GSO); one by one where it cannot.
  error_code send_segments(proto::ByteView data, std::size_t segment, const udp::endpoint& to);
  // Waits until the socket can take more (QUIC's writer, after would_block).
  awaitable<void> wait_writable();

  // Our address as the STUN server at server sees it, or nullopt after timeout.
  awaitable<std::optional<udp::endpoint>> stun_mapped(udp::endpoint server,
                                                      std::chrono::milliseconds timeout);

  ProbeHandler on_probe;
  Handler on_quic;
  Handler on_relay;  // the relay over UDP's answers (proto/relay_udp.hpp)
  // Runs once, just before the socket closes (close() or the destructor): its last datagrams
  // (the relay over UDP's unbind).
  std::function<void(UdpMux&)> on_close;

 private:
  explicit UdpMux(udp::socket s);
  awaitable<void> receive_loop(std::shared_ptr<UdpMux> self);
  void dispatch(proto::ByteView d, const udp::endpoint& from);

  udp::socket socket_;
  bool v6_ = false;
  bool closed_ = false;
  bool gso_ = true;  // until the kernel says otherwise
  struct Pending {
    std::optional<udp::endpoint> mapped;
    asio::steady_timer* wake = nullptr;
  };
  std::map<proto::StunTransactionId, Pending*> stun_waiting_;
};

// v4-mapped form for a dual-stack socket, plain otherwise.
udp::endpoint for_socket(const UdpMux& mux, udp::endpoint ep);
std::string endpoint_text(const udp::endpoint& ep);

}  // namespace ferry::net
