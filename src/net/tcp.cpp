#include "net/tcp.hpp"

#include "net/proxy.hpp"

#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <array>
#include <boost/asio/connect.hpp>
#include <boost/beast/core/error.hpp>
#include <cstring>

namespace ferry::net {

asio::ip::address address_of(const proto::IpPort& p) {
  if (p.ip.size() == 4) {
    asio::ip::address_v4::bytes_type b{};
    std::copy(p.ip.begin(), p.ip.end(), b.begin());
    return asio::ip::address_v4(b);
  }
  asio::ip::address_v6::bytes_type b{};
  std::copy_n(p.ip.begin(), std::min<std::size_t>(p.ip.size(), b.size()), b.begin());
  return asio::ip::address_v6(b);
}

asio::ip::address unmapped(asio::ip::address a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  }
  return a;
}

std::string describe(const error_code& ec) {
  if (ec == beast::error::timeout || ec == asio::error::timed_out) return "timed out";
  if (ec == asio::error::connection_refused) return "connection refused";
  if (ec == asio::error::network_unreachable) return "network unreachable";
  if (ec == asio::error::host_unreachable) return "host unreachable";
  if (ec == asio::error::host_not_found || ec == asio::error::host_not_found_try_again) {
    return "host name not found";
  }
  if (ec == asio::error::eof) return "connection closed";
  if (ec == asio::error::connection_reset) return "connection reset";
  if (ec == asio::error::operation_aborted) return "cancelled";
  return ec.message();
}

awaitable<proto::Result<beast::tcp_stream>> connect_tcp(std::string host, std::uint16_t port,
                                                        std::chrono::milliseconds timeout) {
  const ProxyChoice choice = proxy_for(host);
  if (!choice.proxy) {
    auto direct = co_await connect_tcp_direct(host, port, timeout);
    if (!direct && !choice.ignored.empty()) {
      // Said only when it may matter: the direct attempt it led to failed.
      direct.error().detail += "; " + choice.ignored + ", so ferry tried without it";
    }
    co_return direct;
  }
  const proto::ProxyUrl& via = *choice.proxy;
  auto stream = co_await connect_tcp_direct(via.host, via.port, timeout);
  if (!stream) {
    co_return proto::fail(
        proto::Errc::server_unreachable,
        "the proxy " + via.to_string() +
            " (from https_proxy or all_proxy) cannot be reached: " + stream.error().detail);
  }
  auto tunnel = co_await open_tunnel(*stream, via, host, port, timeout);
  if (!tunnel) co_return std::unexpected(tunnel.error());
  co_return std::move(*stream);
}

awaitable<proto::Result<beast::tcp_stream>> connect_tcp_direct(std::string host, std::uint16_t port,
                                                               std::chrono::milliseconds timeout) {
  auto ex = co_await asio::this_coro::executor;
  tcp::resolver resolver(ex);
  error_code ec;
  // Resolution of an IP literal is immediate; names go to the system resolver.
  auto results = co_await resolver.async_resolve(host, std::to_string(port), redirect(ec));
  if (ec) co_return proto::fail(proto::Errc::server_unreachable, host + ": " + describe(ec));
  beast::tcp_stream stream(ex);
  stream.expires_after(timeout);
  co_await stream.async_connect(results, redirect(ec));
  if (ec) {
    co_return proto::fail(proto::Errc::server_unreachable,
                          host + ":" + std::to_string(port) + ": " + describe(ec));
  }
  stream.expires_never();
  tune_for_bulk(stream.socket());
  co_return stream;
}

awaitable<proto::Result<beast::tcp_stream>> connect_tcp(tcp::endpoint ep,
                                                        std::chrono::milliseconds timeout,
                                                        std::uint16_t max_segment) {
  beast::tcp_stream stream(co_await asio::this_coro::executor);
  error_code ec;
  if (max_segment != 0) {
    stream.socket().open(ep.protocol(), ec);
    if (ec) co_return proto::fail(proto::Errc::no_path, describe(ec));
    limit_segments(stream.socket().native_handle(), max_segment);
  }
  stream.expires_after(timeout);
  co_await stream.async_connect(ep, redirect(ec));
  if (ec) co_return proto::fail(proto::Errc::no_path, describe(ec));
  stream.expires_never();
  tune_for_bulk(stream.socket());
  co_return stream;
}

bool limit_segments(int fd, std::uint16_t max_segment) {
  if (max_segment == 0) return true;
  const int mss = max_segment;
  return ::setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof mss) == 0;
}

std::string tune_for_bulk(tcp::socket& s) {
  error_code ec;
  s.set_option(tcp::no_delay(true), ec);
  // A peer whose path is gone while this side only reads (the sending side notices through
  // net::SendWatch): probes after kKeepIdle of silence, given up kKeepProbes unanswered probes
  // later. A peer that is merely quiet answers them from its kernel.
  s.set_option(asio::socket_base::keep_alive(true), ec);
  const int idle = static_cast<int>(kKeepIdle.count());
  const int interval = static_cast<int>(kKeepInterval.count());
  const int probes = kKeepProbes;
  ::setsockopt(s.native_handle(), IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  ::setsockopt(s.native_handle(), IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
  ::setsockopt(s.native_handle(), IPPROTO_TCP, TCP_KEEPCNT, &probes, sizeof probes);
  static constexpr std::string_view kWanted = "bbr";
  // Asking is the only portable test: the kernel says EPERM (not allowed to this process) or
  // ENOENT (no such module), and the socket keeps its default.
  ::setsockopt(s.native_handle(), IPPROTO_TCP, TCP_CONGESTION, kWanted.data(),
               static_cast<socklen_t>(kWanted.size()));
  std::array<char, 16> name{};
  auto len = static_cast<socklen_t>(name.size());
  if (::getsockopt(s.native_handle(), IPPROTO_TCP, TCP_CONGESTION, name.data(), &len) != 0)
    return {};
  return std::string(name.data(), ::strnlen(name.data(), len));
}

std::string bulk_congestion_control(const asio::any_io_executor& ex) {
  tcp::socket s(ex);
  error_code ec;
  s.open(tcp::v4(), ec);
  if (ec) s.open(tcp::v6(), ec);
  if (ec) return {};
  return tune_for_bulk(s);
}

namespace {
asio::ip::address_v4 v4_of(const sockaddr* sa) {
  const auto* sin = reinterpret_cast<const sockaddr_in*>(sa);
  asio::ip::address_v4::bytes_type b;
  std::memcpy(b.data(), &sin->sin_addr, 4);
  return asio::ip::address_v4(b);
}
}  // namespace

std::vector<Ipv4Interface> ipv4_interfaces() {
  std::vector<Ipv4Interface> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || (i->ifa_flags & IFF_UP) == 0 ||
        i->ifa_addr->sa_family != AF_INET) {
      continue;
    }
    Ipv4Interface itf;
    itf.address = v4_of(i->ifa_addr);
    itf.loopback = (i->ifa_flags & IFF_LOOPBACK) != 0;
    itf.multicast = (i->ifa_flags & IFF_MULTICAST) != 0;
    if ((i->ifa_flags & IFF_BROADCAST) != 0 && i->ifa_broadaddr != nullptr &&
        i->ifa_broadaddr->sa_family == AF_INET) {
      itf.broadcast = v4_of(i->ifa_broadaddr);
    }
    out.push_back(itf);
  }
  freeifaddrs(list);
  return out;
}

std::vector<asio::ip::address> local_addresses() {
  std::vector<asio::ip::address> loopback;
  std::vector<asio::ip::address> others;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return {asio::ip::address_v4::loopback()};
  for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || (i->ifa_flags & IFF_UP) == 0) continue;
    asio::ip::address addr;
    if (i->ifa_addr->sa_family == AF_INET) {
      const auto* sin = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);
      asio::ip::address_v4::bytes_type b;
      std::memcpy(b.data(), &sin->sin_addr, 4);
      addr = asio::ip::address_v4(b);
    } else if (i->ifa_addr->sa_family == AF_INET6) {
      const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(i->ifa_addr);
      asio::ip::address_v6::bytes_type b;
      std::memcpy(b.data(), &sin6->sin6_addr, 16);
      const asio::ip::address_v6 v6(b);
      if (v6.is_link_local()) continue;  // would need a scope id the peer cannot use
      addr = v6;
    } else {
      continue;
    }
    (addr.is_loopback() ? loopback : others).push_back(addr);
  }
  freeifaddrs(list);
  loopback.insert(loopback.end(), others.begin(), others.end());
  return loopback;
}

}  // namespace ferry::net
