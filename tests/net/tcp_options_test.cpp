// The socket options a black-holed path calls for, on real loopback connections: which connections
// routers may fragment, and narrow segments asked for before the SYN.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cstdlib>

#include <gtest/gtest.h>
#include <boost/asio/ip/v6_only.hpp>

#include "net/send_watch.hpp"
#include "net/tcp.hpp"

namespace ferry::net {
namespace {

using namespace std::chrono_literals;

// A connected pair on loopback: the dialled socket and the accepted one. listen_on is the
// listening socket's address (the v6 any address takes v4-mapped peers); max_segment limits the
// dial (connect_tcp) and, when limit_listener, the listening socket.
struct Pair {
  tcp::socket dialled;
  tcp::socket accepted;
};
Pair connect_pair(asio::io_context& io, const tcp::endpoint& listen_on, const asio::ip::address& to,
                  std::uint16_t max_segment, bool limit_listener) {
  tcp::acceptor acc(io);
  acc.open(listen_on.protocol());
  if (listen_on.protocol() == tcp::v6()) {
    acc.set_option(asio::ip::v6_only(false));
  }
  acc.bind(listen_on);
  if (limit_listener) {
    EXPECT_TRUE(limit_segments(acc.native_handle(), max_segment));
  }
  acc.listen();
  const tcp::endpoint target(to, acc.local_endpoint().port());
  std::optional<tcp::socket> dialled;
  asio::co_spawn(
      io,
      [&]() -> awaitable<void> {
        auto s = co_await connect_tcp(target, 2000ms, limit_listener ? 0 : max_segment);
        EXPECT_TRUE(s) << (s ? "" : s.error().detail);
        if (s) dialled.emplace(s->release_socket());
      },
      asio::detached);
  tcp::socket accepted(io);
  acc.async_accept(accepted, [](const error_code& ec) { EXPECT_FALSE(ec) << ec.message(); });
  io.run_for(5s);
  io.restart();
  EXPECT_TRUE(dialled);
  return {dialled ? std::move(*dialled) : tcp::socket(io), std::move(accepted)};
}

int mss_of(tcp::socket& s) {
  int mss = 0;
  socklen_t len = sizeof mss;
  EXPECT_EQ(::getsockopt(s.native_handle(), IPPROTO_TCP, TCP_MAXSEG, &mss, &len), 0);
  return mss;
}

// IPv6 loopback is there on Debian and on CI; on a machine with IPv6 disabled the IPv6 half is
// skipped, and said, except under CI, where nothing may skip itself.
#define REQUIRE_IPV6_LOOPBACK()                                                \
  if (!has_ipv6_loopback()) {                                                  \
    if (std::getenv("CI") != nullptr) FAIL() << "no IPv6 loopback on CI";      \
    GTEST_SKIP() << "no IPv6 loopback here (IPv6 disabled): IPv6 not checked"; \
  }

bool has_ipv6_loopback() {
  asio::io_context io;
  tcp::acceptor acc(io);
  error_code ec;
  acc.open(tcp::v6(), ec);
  if (!ec) acc.bind(tcp::endpoint(asio::ip::address_v6::loopback(), 0), ec);
  return !ec;
}

TEST(TcpOptions, RoutersMayFragmentIpv4ConnectionsOnly) {
  asio::io_context io;
  auto v4 = connect_pair(io, {asio::ip::address_v4::loopback(), 0},
                         asio::ip::address_v4::loopback(), 0, false);
  EXPECT_TRUE(allow_fragments(v4.dialled.native_handle()));
  // An IPv4 peer on a dual-stack listener: a v4-mapped address on an IPv6 socket.
  REQUIRE_IPV6_LOOPBACK();
  auto mapped = connect_pair(io, {tcp::v6(), 0}, asio::ip::address_v4::loopback(), 0, false);
  EXPECT_TRUE(allow_fragments(mapped.accepted.native_handle()));
  // IPv6 routers never fragment, though the kernel takes the IPv4 option on the socket.
  auto v6 = connect_pair(io, {tcp::v6(), 0}, asio::ip::address_v6::loopback(), 0, false);
  EXPECT_FALSE(allow_fragments(v6.dialled.native_handle()));
  EXPECT_FALSE(allow_fragments(v6.accepted.native_handle()));
}

TEST(TcpOptions, ANarrowDialSendsAndIsSentNarrowSegments) {
  asio::io_context io;
  // Loopback's MTU is 65536: unlimited, segments are far larger than 1280 bytes.
  auto wide = connect_pair(io, {asio::ip::address_v4::loopback(), 0},
                           asio::ip::address_v4::loopback(), 0, false);
  EXPECT_GT(mss_of(wide.accepted), 1280);
  auto narrow = connect_pair(io, {asio::ip::address_v4::loopback(), 0},
                             asio::ip::address_v4::loopback(), 1220, false);
  EXPECT_LE(mss_of(narrow.dialled), 1220);
  EXPECT_LE(mss_of(narrow.accepted), 1220);  // the SYN's MSS option asked for it
}

TEST(TcpOptions, ANarrowListenerSendsAndIsSentNarrowSegments) {
  REQUIRE_IPV6_LOOPBACK();
  asio::io_context io;
  auto narrow = connect_pair(io, {tcp::v6(), 0}, asio::ip::address_v6::loopback(), 1220, true);
  EXPECT_LE(mss_of(narrow.accepted), 1220);
  EXPECT_LE(mss_of(narrow.dialled), 1220);  // the SYN-ACK's MSS option asked for it
}

}  // namespace
}  // namespace ferry::net
