#include "net/udp_mux.hpp"

#include <netinet/in.h>
#include <netinet/udp.h>
#include <sodium.h>
#include <sys/socket.h>

#include <array>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstring>

#include "net/tcp.hpp"
#include "proto/punch.hpp"

namespace ferry::net {

namespace {
constexpr std::size_t kMaxDatagram = 65536;

}  // namespace

void send_whole_datagrams(udp::socket& s) {
  const int probe = IP_PMTUDISC_PROBE;
  // A dual-stack socket sends IPv4 datagrams too: both options.
  ::setsockopt(s.native_handle(), IPPROTO_IP, IP_MTU_DISCOVER, &probe, sizeof probe);
  error_code ec;
  if (s.local_endpoint(ec).address().is_v6()) {
    const int probe6 = IPV6_PMTUDISC_PROBE;
    ::setsockopt(s.native_handle(), IPPROTO_IPV6, IPV6_MTU_DISCOVER, &probe6, sizeof probe6);
  }
}

proto::Result<std::shared_ptr<UdpMux>> UdpMux::open(const asio::any_io_executor& ex,
                                                    const udp::endpoint& bind_to) {
  error_code ec;
  udp::socket s(ex);
  s.open(bind_to.protocol(), ec);
  if (!ec && bind_to.address().is_v6()) s.set_option(asio::ip::v6_only(false), ec);
  if (!ec) s.bind(bind_to, ec);
  if (!ec) s.non_blocking(true, ec);
  // Room for a burst of QUIC packets at line rate.
  if (!ec) s.set_option(asio::socket_base::receive_buffer_size(4 << 20), ec);
  if (!ec) s.set_option(asio::socket_base::send_buffer_size(4 << 20), ec);
  if (ec) return proto::fail(proto::Errc::io_error, "cannot open a UDP socket: " + ec.message());
  // Let the kernel hand us bursts of same-sized datagrams in one read (UDP GRO), where it can.
  const int on = 1;
  ::setsockopt(s.native_handle(), IPPROTO_UDP, UDP_GRO, &on, sizeof on);
  send_whole_datagrams(s);
  auto mux = std::shared_ptr<UdpMux>(new UdpMux(std::move(s)));
  mux->v6_ = bind_to.address().is_v6();
  return mux;
}

UdpMux::UdpMux(udp::socket s) : socket_(std::move(s)) {}

UdpMux::~UdpMux() {
  if (auto last = std::exchange(on_close, nullptr); last && !closed_) last(*this);
  error_code ec;
  socket_.close(ec);
}

udp::endpoint UdpMux::local_endpoint() const {
  error_code ec;
  return socket_.local_endpoint(ec);
}

void UdpMux::start() {
  asio::co_spawn(socket_.get_executor(), receive_loop(shared_from_this()), asio::detached);
}

void UdpMux::close() {
  if (closed_) return;
  if (auto last = std::exchange(on_close, nullptr)) last(*this);
  closed_ = true;
  error_code ec;
  socket_.close(ec);
  for (auto& [id, pending] : stun_waiting_) pending->wake->cancel();
  stun_waiting_.clear();
  // The handlers may hold what holds us (a QUIC connection): drop them, but not from inside one.
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    self->on_probe = nullptr;
    self->on_quic = nullptr;
    self->on_relay = nullptr;
  });
}

error_code UdpMux::send(proto::ByteView d, const udp::endpoint& to) {
  error_code ec;
  if (closed_) return asio::error::bad_descriptor;
  socket_.send_to(asio::buffer(d.data(), d.size()), for_socket(*this, to), 0, ec);
  return ec;
}

error_code UdpMux::send_segments(proto::ByteView data, std::size_t segment,
                                 const udp::endpoint& to) {
  if (closed_) return asio::error::bad_descriptor;
  if (data.size() <= segment) return send(data, to);
  if (gso_) {
    const udp::endpoint dest = for_socket(*this, to);
    iovec iov{const_cast<std::uint8_t*>(data.data()), data.size()};
    alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(std::uint16_t))> control{};
    msghdr msg{};
    msg.msg_name = const_cast<sockaddr*>(dest.data());
    msg.msg_namelen = static_cast<socklen_t>(dest.size());
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_UDP;
    c->cmsg_type = UDP_SEGMENT;
    c->cmsg_len = CMSG_LEN(sizeof(std::uint16_t));
    const auto size = static_cast<std::uint16_t>(segment);
    std::memcpy(CMSG_DATA(c), &size, sizeof size);
    if (::sendmsg(socket_.native_handle(), &msg, 0) >= 0) return {};
    if (errno == EAGAIN || errno == EWOULDBLOCK) return asio::error::would_block;
    if (errno != EIO && errno != EINVAL && errno != ENOPROTOOPT && errno != EOPNOTSUPP) {
      return error_code(errno, boost::system::system_category());
    }
    gso_ = false;  // this kernel or device cannot segment: one datagram at a time from now on
  }
  for (std::size_t at = 0; at < data.size(); at += segment) {
    if (auto ec = send(data.subspan(at, std::min(segment, data.size() - at)), to); ec) return ec;
  }
  return {};
}

awaitable<void> UdpMux::wait_writable() {
  error_code ec;
  co_await socket_.async_wait(udp::socket::wait_write, redirect(ec));
}

awaitable<void> UdpMux::receive_loop(std::shared_ptr<UdpMux> self) {
  (void)self;  // keeps the socket alive while the loop runs
  std::vector<std::uint8_t> buf(kMaxDatagram);
  while (!closed_) {
    error_code ec;
    co_await socket_.async_wait(udp::socket::wait_read, redirect(ec));
    if (closed_ || ec == asio::error::operation_aborted) co_return;
    // Drain everything queued: one wake-up per burst, not per packet.
    for (int i = 0; i < 256 && !closed_; ++i) {
      udp::endpoint from;
      iovec iov{buf.data(), buf.size()};
      alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int))> control{};
      msghdr msg{};
      msg.msg_name = from.data();
      msg.msg_namelen = static_cast<socklen_t>(from.capacity());
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control.data();
      msg.msg_controllen = control.size();
      const ssize_t n = ::recvmsg(socket_.native_handle(), &msg, 0);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (n < 0) continue;  // ICMP errors surface here as connection_refused: not fatal for UDP
      from.resize(msg.msg_namelen);
      // With GRO, one read may hold several datagrams of segment bytes each (the last shorter).
      const auto total = static_cast<std::size_t>(n);
      std::size_t segment = total;
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
          int size = 0;
          std::memcpy(&size, CMSG_DATA(c), sizeof size);
          if (size > 0) segment = static_cast<std::size_t>(size);
        }
      }
      const udp::endpoint peer(unmapped(from.address()), from.port());
      for (std::size_t at = 0; at < total && !closed_; at += segment) {
        dispatch(proto::ByteView(buf.data() + at, std::min(segment, total - at)), peer);
      }
    }
  }
}

void UdpMux::dispatch(proto::ByteView d, const udp::endpoint& from) {
  switch (proto::classify_datagram(d)) {
    case proto::DatagramKind::probe:
      if (on_probe && on_probe(d, from)) return;
      [[fallthrough]];
    case proto::DatagramKind::quic:
      if (on_quic) on_quic(d, from);
      return;
    case proto::DatagramKind::relay:
      if (on_relay) on_relay(d, from);
      return;
    case proto::DatagramKind::stun: {
      auto m = proto::decode_stun(d);
      if (!m || m->type != proto::kStunBindingSuccess || !m->mapped) return;
      auto it = stun_waiting_.find(m->transaction);
      if (it == stun_waiting_.end()) return;
      it->second->mapped = udp::endpoint(address_of(*m->mapped), m->mapped->port);
      it->second->wake->cancel();
      stun_waiting_.erase(it);
      return;
    }
  }
}

awaitable<std::optional<udp::endpoint>> UdpMux::stun_mapped(udp::endpoint server,
                                                            std::chrono::milliseconds timeout) {
  proto::StunTransactionId id{};
  randombytes_buf(id.data(), id.size());
  const auto request = proto::encode_binding_request(id);
  asio::steady_timer wake(socket_.get_executor());
  Pending pending{std::nullopt, &wake};
  stun_waiting_[id] = &pending;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  // Resent every 250 ms: a lost request or answer costs a quarter second, not the timeout.
  while (!pending.mapped && !closed_ && std::chrono::steady_clock::now() < deadline) {
    send(request, server);
    wake.expires_at(
        std::min(deadline, std::chrono::steady_clock::now() + std::chrono::milliseconds(250)));
    error_code ec;
    co_await wake.async_wait(redirect(ec));
  }
  stun_waiting_.erase(id);
  co_return pending.mapped;
}

udp::endpoint for_socket(const UdpMux& mux, udp::endpoint ep) {
  if (mux.v6() && ep.address().is_v4()) {
    return {asio::ip::make_address_v6(asio::ip::v4_mapped, ep.address().to_v4()), ep.port()};
  }
  return ep;
}

std::string endpoint_text(const udp::endpoint& ep) {
  const auto a = unmapped(ep.address());
  return (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" + std::to_string(ep.port());
}

}  // namespace ferry::net
