#include "server/stun_responder.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <utility>

#include "net/tcp.hpp"
#include "proto/stun.hpp"
#include "server/client_address.hpp"
#include "server/server_log.hpp"
#include "server/udp_socket.hpp"

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
