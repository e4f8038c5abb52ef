// Two real QUIC endpoints on loopback UDP sockets in one process: the handshake with a pinned
// certificate, a stream of bytes both ways intact, a wrong pin refused.
#include "net/quic.hpp"

#include <gtest/gtest.h>

#include <sodium.h>
#include <functional>

namespace ferry::net {
namespace {

using namespace std::chrono_literals;

struct Pair {
  asio::io_context io;
  std::shared_ptr<UdpMux> a, b;  // a: client, b: server
  std::shared_ptr<QuicIdentity> identity;
  std::shared_ptr<QuicConnection> client, server;

  Pair() {
    a = *UdpMux::open(io.get_executor(), udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    b = *UdpMux::open(io.get_executor(), udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    auto made = QuicIdentity::generate();
    EXPECT_TRUE(made) << (made ? "" : made.error().detail);
    if (made) identity = *made;
    b->on_quic = [this](proto::ByteView d, const udp::endpoint& from) {
      if (server) return server->on_packet(d, from);
      auto accepted = QuicConnection::accept(b, from, identity, d, std::chrono::milliseconds(1));
      ASSERT_TRUE(accepted) << accepted.error().detail;
      server = *accepted;
    };
    a->start();
    b->start();
  }
  void dial(proto::Bytes pin) {
    auto dialled = QuicConnection::connect(a, b->local_endpoint(), std::move(pin),
                                           std::chrono::nanoseconds(0));
    ASSERT_TRUE(dialled) << dialled.error().detail;
    client = *dialled;
    a->on_quic = [this](proto::ByteView d, const udp::endpoint& from) {
      if (std::exchange(lose_next_to_client, false)) {
        ++lost_to_client;
        return;
      }
      client->on_packet(d, from);
    };
  }
  // The client's and the server's parts of a test, side by side on the connection the client
  // dialled, each given its end once established; io runs for at most `limit`.
  using Part = std::function<awaitable<void>(ByteStream&)>;
  void run(Part client_part, Part server_part, std::chrono::seconds limit) {
    asio::co_spawn(
        io,
        [&]() -> awaitable<void> {
          EXPECT_TRUE(co_await client->established(5s)) << client->failure();
          auto out = client->stream();
          co_await client_part(*out);
        },
        asio::detached);
    asio::co_spawn(
        io,
        [&]() -> awaitable<void> {
          while (!server) {
            asio::steady_timer t(io, 5ms);
            co_await t.async_wait(use_awaitable);
          }
          EXPECT_TRUE(co_await server->established(5s)) << server->failure();
          auto in = server->stream();
          co_await server_part(*in);
        },
        asio::detached);
    io.run_for(limit);
  }
  // The loss of one datagram on its way to the client (after it arrived: the sockets are real).
  bool lose_next_to_client = false;
  int lost_to_client = 0;
};

TEST(Quic, CarriesAStreamBothWaysWithAPinnedCertificate) {
  Pair p;
  p.dial(p.identity->fingerprint());
  constexpr std::size_t kSize = 24 << 20;
  proto::Bytes data(kSize);
  randombytes_buf(data.data(), data.size());
  proto::Bytes got_by_server, got_by_client;
  bool done = false;
  p.run(
      [&](ByteStream& out) -> awaitable<void> {
        error_code ec;
        for (std::size_t at = 0; at < kSize; at += 65536) {
          co_await out.write(
              asio::buffer(data.data() + at, std::min<std::size_t>(65536, kSize - at)), ec);
          EXPECT_FALSE(ec);
        }
        // The reply, then a graceful close.
        std::array<std::uint8_t, 5> reply{};
        out.expires_after(5s);
        co_await read_exact(out, asio::buffer(reply), ec);
        EXPECT_FALSE(ec) << ec.message();
        got_by_client.assign(reply.begin(), reply.end());
        co_await out.close_gracefully(2000ms);
        done = true;
      },
      [&](ByteStream& in) -> awaitable<void> {
        in.expires_after(20s);
        std::vector<std::uint8_t> buf(100000);
        error_code ec;
        while (got_by_server.size() < kSize && !ec) {
          const auto n = co_await in.read_some(asio::buffer(buf), ec);
          got_by_server.insert(got_by_server.end(), buf.begin(), buf.begin() + n);
        }
        const std::string hello = "thank";
        co_await in.write(asio::buffer(hello), ec);
        EXPECT_FALSE(ec);
        co_await in.close_gracefully(2000ms);
      },
      30s);
  EXPECT_TRUE(done);
  EXPECT_TRUE(got_by_server == data) << got_by_server.size();
  EXPECT_EQ(std::string(got_by_client.begin(), got_by_client.end()), "thank");
}

// How the server ends after its last words.
enum class Ending { graceful, acknowledged_then_closed, at_once };

// The server's last words ("ack") lose their first packet. The client reads whatever the
// server sent before the connection ended, within 5 s. The server ends the way the caller asks:
// gracefully (the words are retransmitted until acknowledged), once they are acknowledged and
// then at once (a person's Ctrl-C: RecordPipe::abort), or at once (CONNECTION_CLOSE follows the
// lost packet, and the words are gone).
std::string last_words_after_a_loss(Ending ending) {
  Pair p;
  p.dial(p.identity->fingerprint());
  std::string got;
  bool done = false;
  p.run(
      [&](ByteStream& out) -> awaitable<void> {
        error_code ec;
        co_await out.write(asio::buffer(std::string_view("done")), ec);
        EXPECT_FALSE(ec);
        out.expires_after(5s);
        std::array<char, 16> buf{};
        while (!ec) {
          const auto n = co_await out.read_some(asio::buffer(buf), ec);
          got.append(buf.data(), n);
        }
        out.close();
        done = true;
      },
      [&](ByteStream& in) -> awaitable<void> {
        in.expires_after(5s);
        std::array<std::uint8_t, 4> request{};
        error_code ec;
        co_await read_exact(in, asio::buffer(request), ec);
        EXPECT_FALSE(ec) << ec.message();
        // Past the acknowledgement of "done" (at most 25 ms late): the next datagram to the
        // client is the one that carries "ack".
        asio::steady_timer settle(p.io, 150ms);
        co_await settle.async_wait(use_awaitable);
        p.lose_next_to_client = true;
        co_await in.write(asio::buffer(std::string_view("ack")), ec);
        EXPECT_FALSE(ec);
        if (ending == Ending::graceful) {
          co_await in.close_gracefully(2000ms);
        } else {
          if (ending == Ending::acknowledged_then_closed) co_await in.acknowledged(2000ms);
          in.close();
        }
      },
      10s);
  EXPECT_TRUE(done);
  EXPECT_EQ(p.lost_to_client, 1);
  return got;
}

TEST(Quic, LastWordsClosedGracefullySurviveTheLossOfTheirPacket) {
  EXPECT_EQ(last_words_after_a_loss(Ending::graceful), "ack");
}

TEST(Quic, LastWordsAcknowledgedBeforeClosingSurviveTheLossOfTheirPacket) {
  EXPECT_EQ(last_words_after_a_loss(Ending::acknowledged_then_closed), "ack");
}

// Why the transfer's last words close gracefully (RecordPipe::send_last): at once, they are lost.
TEST(Quic, LastWordsClosedAtOnceAreLostWithTheirPacket) {
  EXPECT_EQ(last_words_after_a_loss(Ending::at_once), "");
}

TEST(Quic, RefusesACertificateThatIsNotThePinnedOne) {
  Pair p;
  proto::Bytes wrong(32, 0xAB);
  p.dial(wrong);
  proto::Result<void> result;
  asio::co_spawn(
      p.io,
      [&]() -> awaitable<void> {
        result = co_await p.client->established(3s);
        p.io.stop();
      },
      asio::detached);
  p.io.run_for(5s);
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().detail.find("not the one it announced"), std::string::npos)
      << p.client->failure();
}

}  // namespace
}  // namespace ferry::net
