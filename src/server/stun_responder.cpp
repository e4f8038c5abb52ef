#include "server/stun_responder.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <utility>

#include "net/tcp.hpp"
#include "proto/stun.hpp"
#include "server/client_address.hpp"
#include "server/server_log.hpp"

namespace ferry::server {

using namespace net;
using proto::Errc;

namespace {
proto::IpPort to_ip_port(const asio::ip::address& a, std::uint16_t port) {
  const auto u = unmapped(a);
  proto::IpPort out;
  out.port = port;
  if (u.is_v4()) {
    const auto b = u.to_v4().to_bytes();
    out.ip.assign(b.begin(), b.end());
  } else {
    const auto b = u.to_v6().to_bytes();
    out.ip.assign(b.begin(), b.end());
  }
  return out;
}

// Asks the kernel to say which local address each datagram arrived on.
void want_arrival_address(asio::ip::udp::socket& s) {
  const int on = 1;
  if (s.local_endpoint().address().is_v6()) {
    ::setsockopt(s.native_handle(), IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof on);
    // A dual-stack socket reports IPv4 arrivals through IP_PKTINFO.
    ::setsockopt(s.native_handle(), IPPROTO_IP, IP_PKTINFO, &on, sizeof on);
  } else {
    ::setsockopt(s.native_handle(), IPPROTO_IP, IP_PKTINFO, &on, sizeof on);
  }
}

// A control message buffer big enough for one IPv4 or IPv6 packet-info record.
using Control =
    std::array<std::uint8_t, CMSG_SPACE(sizeof(in6_pktinfo)) + CMSG_SPACE(sizeof(in_pktinfo))>;

struct Datagram {
  std::size_t size = 0;
  asio::ip::udp::endpoint from;
  Control control{};
  std::size_t control_size = 0;  // the arrival address record, as received (0: none)
  std::optional<asio::ip::address> arrival;
};

// recvmsg once the socket is readable; false when nothing was there.
bool receive(asio::ip::udp::socket& s, std::span<std::uint8_t> buf, Datagram& d) {
  sockaddr_storage from{};
  iovec iov{buf.data(), buf.size()};
  msghdr msg{};
  msg.msg_name = &from;
  msg.msg_namelen = sizeof from;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  Control control{};
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  const ssize_t n = ::recvmsg(s.native_handle(), &msg, MSG_DONTWAIT);
  if (n < 0) return false;
  d.size = static_cast<std::size_t>(n);
  d.from.resize(msg.msg_namelen);
  std::memcpy(d.from.data(), &from, msg.msg_namelen);
  d.control_size = 0;
  d.arrival.reset();
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    const bool v4 = c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO;
    const bool v6 = c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO;
    if (!v4 && !v6) continue;
    // Sent back as is, with the interface index cleared so routing picks the way out.
    if (v4) {
      in_pktinfo info{};
      std::memcpy(&info, CMSG_DATA(c), sizeof info);
      info.ipi_ifindex = 0;
      info.ipi_spec_dst = info.ipi_addr;
      std::memcpy(CMSG_DATA(c), &info, sizeof info);
      asio::ip::address_v4::bytes_type b{};
      std::memcpy(b.data(), &info.ipi_addr, b.size());
      d.arrival = asio::ip::address_v4(b);
    } else {
      in6_pktinfo info{};
      std::memcpy(&info, CMSG_DATA(c), sizeof info);
      info.ipi6_ifindex = 0;
      std::memcpy(CMSG_DATA(c), &info, sizeof info);
      asio::ip::address_v6::bytes_type b{};
      std::memcpy(b.data(), &info.ipi6_addr, b.size());
      d.arrival = asio::ip::address_v6(b);
    }
    d.control_size = CMSG_SPACE(c->cmsg_len - CMSG_LEN(0));
    std::memcpy(d.control.data(), c, d.control_size);
    break;
  }
  return true;
}

// Sends from the given arrival address (control), or as the socket is bound when control is empty.
void send_from(asio::ip::udp::socket& s, proto::ByteView payload, const asio::ip::udp::endpoint& to,
               const Control* control, std::size_t control_size) {
  iovec iov{const_cast<std::uint8_t*>(payload.data()), payload.size()};
  msghdr msg{};
  msg.msg_name = const_cast<sockaddr*>(to.data());
  msg.msg_namelen = static_cast<socklen_t>(to.size());
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  Control copy{};
  if (control != nullptr && control_size > 0) {
    std::memcpy(copy.data(), control->data(), control_size);
    msg.msg_control = copy.data();
    msg.msg_controllen = control_size;
  }
  // A full send buffer drops the answer, as the network might: the client asks again.
  (void)::sendmsg(s.native_handle(), &msg, MSG_DONTWAIT);
}
}  // namespace

StunResponder::StunResponder(asio::io_context& io, asio::ip::address ip,
                             std::array<std::uint16_t, 2> ports,
                             std::optional<asio::ip::address> alternate_ip,
                             RateBuckets::Limits rate)
    : io_(io), ips_{std::move(ip)}, ports_(ports), rate_(rate) {
  if (alternate_ip) ips_.push_back(*alternate_ip);
}

proto::Result<void> StunResponder::start() {
  for (std::size_t a = 0; a < ips_.size(); ++a) {
    for (std::size_t p = 0; p < 2; ++p) {
      udp::socket s(io_);
      error_code ec;
      const udp::endpoint ep(ips_[a], ports_[p]);
      s.open(ep.protocol(), ec);
      if (!ec) s.bind(ep, ec);
      if (ec) {
        return proto::fail(Errc::usage, "cannot open the STUN port UDP " + ips_[a].to_string() +
                                            ":" + std::to_string(ports_[p]) + ": " + ec.message());
      }
      s.non_blocking(true, ec);
      want_arrival_address(s);
      ports_[p] = s.local_endpoint().port();  // 0 asked for any port
      locals_.push_back(s.local_endpoint());
      sockets_.push_back(std::move(s));
    }
  }
  for (std::size_t i = 0; i < sockets_.size(); ++i) asio::co_spawn(io_, serve(i), asio::detached);
  return {};
}

void StunResponder::stop() {
  error_code ec;
  for (auto& s : sockets_) s.close(ec);
}

awaitable<void> StunResponder::serve(std::size_t i) {
  const std::size_t a = i / 2;
  const std::size_t p = i % 2;
  std::array<std::uint8_t, 1500> buf{};
  Datagram d;
  for (;;) {
    error_code ec;
    co_await sockets_[i].async_wait(udp::socket::wait_read, redirect(ec));
    if (ec == asio::error::operation_aborted || !sockets_[i].is_open()) co_return;
    if (ec) continue;
    while (receive(sockets_[i], buf, d)) {
      const auto m = proto::decode_stun(proto::ByteView(buf.data(), d.size));
      if (!m || m->type != proto::kStunBindingRequest) continue;
      const auto client = client_address(d.from.address());
      switch (rate_.take(client.group, RateBuckets::Clock::now())) {
        case RateBuckets::Verdict::allow:
          break;
        case RateBuckets::Verdict::key_limited:
          ++stats_.limited_address;
          log_throttled("stun/address", spdlog::level::warn, "stun_limited",
                        {{"reason", "address_rate"}, {"client", client.group}});
          continue;
        case RateBuckets::Verdict::total_limited:
          ++stats_.limited_total;
          log_throttled("stun/total", spdlog::level::warn, "stun_limited",
                        {{"reason", "total_rate"}, {"client", client.group}});
          continue;
      }
      const bool change_ip = (m->change_request & proto::kStunChangeIp) != 0;
      const bool change_port = (m->change_request & proto::kStunChangePort) != 0;
      proto::Bytes answer;
      std::size_t out = i;
      if (!m->unknown_required.empty()) {
        answer = proto::encode_binding_error(m->transaction, 420, "unknown attribute");
      } else if (change_ip && ips_.size() < 2) {
        // RFC 5780 7.2: a server that cannot change its address answers 420 rather than lie.
        answer = proto::encode_binding_error(m->transaction, 420, "no alternate address");
      } else {
        out = index(change_ip ? 1 - a : a, change_port ? 1 - p : p);
        proto::BindingResponse r;
        r.transaction = m->transaction;
        r.classic = m->classic;
        r.classic_id_prefix = m->classic_id_prefix;
        r.mapped = to_ip_port(d.from.address(), d.from.port());
        // The address the client asked, when the socket is a wildcard one.
        const auto origin = out / 2 == a && d.arrival && locals_[out].address().is_unspecified()
                                ? *d.arrival
                                : locals_[out].address();
        r.response_origin = to_ip_port(origin, locals_[out].port());
        const std::size_t other = index(ips_.size() > 1 ? 1 - a : a, 1 - p);
        r.other_address = to_ip_port(locals_[other].address(), locals_[other].port());
        answer = proto::encode_binding_response(r);
      }
      ++stats_.answered;
      // From another address the arrival address means nothing: that socket's own is used.
      const bool same_address = out / 2 == a;
      send_from(sockets_[out], answer, d.from, same_address ? &d.control : nullptr,
                same_address ? d.control_size : 0);
    }
  }
}

}  // namespace ferry::server
