// Wide TCP's stream on real loopback connections: what one side writes arrives whole and in
// order at the other however the frames are spread, and a broken or hostile peer's frames fail
// the stream with a reason.
#include "net/striped_stream.hpp"

#include <gtest/gtest.h>
#include <sodium.h>

#include <boost/asio/write.hpp>

#include "proto/stripe.hpp"

namespace ferry::net {
namespace {

using namespace std::chrono_literals;
namespace stripe = proto::stripe;

// n connected pairs of loopback sockets: first the dialled ends, then the accepted ones.
awaitable<std::pair<std::vector<tcp::socket>, std::vector<tcp::socket>>> pairs(std::size_t n) {
  auto ex = co_await asio::this_coro::executor;
  tcp::acceptor acc(ex, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  std::vector<tcp::socket> dialled;
  std::vector<tcp::socket> accepted;
  for (std::size_t i = 0; i < n; ++i) {
    tcp::socket s(ex);
    co_await s.async_connect(acc.local_endpoint(), use_awaitable);
    dialled.push_back(std::move(s));
    accepted.push_back(co_await acc.async_accept(use_awaitable));
  }
  co_return std::pair{std::move(dialled), std::move(accepted)};
}

void run(asio::io_context& io, std::function<awaitable<void>()> body) {
  bool finished = false;
  asio::co_spawn(
      io,
      [&]() -> awaitable<void> {
        co_await body();
        finished = true;
      },
      asio::detached);
  io.run_for(30s);
  EXPECT_TRUE(finished) << "the test's exchange did not finish";
}

TEST(StripedStream, CarriesBothWaysWholeAndInOrderThenEnds) {
  asio::io_context io;
  proto::Bytes data(std::size_t{24} << 20);
  randombytes_buf(data.data(), data.size());
  proto::Bytes got;
  proto::Bytes reply_got(5);
  error_code end;
  run(io, [&]() -> awaitable<void> {
    auto [a, b] = co_await pairs(4);
    auto sender = striped_stream(std::move(a), "a");
    auto receiver = striped_stream(std::move(b), "b");
    auto ex = co_await asio::this_coro::executor;
    bool read_all = false;
    asio::co_spawn(
        ex,
        [&]() -> awaitable<void> {
          std::vector<std::uint8_t> buf(300000);  // reads of any size
          for (;;) {
            error_code ec;
            const std::size_t n = co_await receiver->read_some(asio::buffer(buf), ec);
            if (ec) {
              end = ec;
              receiver->close();  // which ends the sender's graceful close
              break;
            }
            got.insert(got.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
            if (got.size() == data.size()) {
              error_code wec;
              co_await receiver->write(asio::buffer("done!", 5), wec);
            }
          }
          read_all = true;
        },
        asio::detached);
    // Records of 1 MiB and odd sizes, as the record layer writes them.
    std::size_t at = 0;
    for (std::size_t k = 0; at < data.size(); ++k) {
      const std::size_t n = std::min(data.size() - at, k % 2 == 0 ? std::size_t{1} << 20 : 77777);
      error_code ec;
      co_await sender->write(asio::buffer(data.data() + at, n), ec);
      EXPECT_FALSE(ec) << ec.message();
      at += n;
    }
    error_code ec;
    co_await read_exact(*sender, asio::buffer(reply_got), ec);
    EXPECT_FALSE(ec) << ec.message();
    co_await sender->close_gracefully(5s);
    asio::steady_timer t(ex);
    while (!read_all) {
      t.expires_after(5ms);
      co_await t.async_wait(redirect(ec));
    }
  });
  EXPECT_TRUE(got == data) << "received " << got.size() << " of " << data.size() << " bytes";
  EXPECT_EQ(std::string(reply_got.begin(), reply_got.end()), "done!");
  EXPECT_EQ(end, asio::error::eof) << end.message();
}

// The peer writes frames by hand (raw sockets); what the striped end makes of them.
struct Hostile {
  error_code ec;
  std::optional<proto::Error> why;
  proto::Bytes got;
};

Hostile against(std::size_t members, std::function<awaitable<void>(std::vector<tcp::socket>&)> peer,
                std::chrono::milliseconds deadline = 2s) {
  asio::io_context io;
  Hostile out;
  run(io, [&]() -> awaitable<void> {
    auto [raw, b] = co_await pairs(members);
    auto s = striped_stream(std::move(b), "b");
    co_await peer(raw);
    std::vector<std::uint8_t> buf(1000);
    s->expires_after(deadline);
    for (;;) {
      const std::size_t n = co_await s->read_some(asio::buffer(buf), out.ec);
      if (out.ec) break;
      out.got.insert(out.got.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
    }
    out.why = s->end_reason();
  });
  return out;
}

awaitable<void> frame(tcp::socket& s, std::uint64_t offset, std::size_t n) {
  const auto h = stripe::encode(stripe::FrameHeader{offset, static_cast<std::uint32_t>(n)});
  proto::Bytes f(h.begin(), h.end());
  f.resize(f.size() + n, 0x41);
  co_await asio::async_write(s, asio::buffer(f), use_awaitable);
}

TEST(StripedStream, OverlappingFramesFailTheStream) {
  const auto r = against(2, [](std::vector<tcp::socket>& raw) -> awaitable<void> {
    co_await frame(raw[0], 0, 10);
    co_await frame(raw[1], 5, 10);
  });
  EXPECT_EQ(r.ec, asio::error::connection_aborted) << r.ec.message();
  ASSERT_TRUE(r.why);
  EXPECT_NE(r.why->detail.find("repeats"), std::string::npos) << r.why->detail;
}

TEST(StripedStream, AnOversizedFrameFailsTheStreamBeforeItsBytesAreRead) {
  const auto r = against(2, [](std::vector<tcp::socket>& raw) -> awaitable<void> {
    const auto h = stripe::encode(stripe::FrameHeader{0, 0x7fffffff});
    co_await asio::async_write(raw[1], asio::buffer(h), use_awaitable);
  });
  ASSERT_TRUE(r.why);
  EXPECT_NE(r.why->detail.find("frame of"), std::string::npos) << r.why->detail;
}

TEST(StripedStream, AnEndWithBytesMissingIsNoCleanEnd) {
  const auto r = against(2, [](std::vector<tcp::socket>& raw) -> awaitable<void> {
    co_await frame(raw[0], 0, 10);
    co_await frame(raw[1], 20, 10);  // bytes 10..19 never come
    for (auto& s : raw) s.shutdown(tcp::socket::shutdown_send);
    co_return;
  });
  EXPECT_EQ(r.got.size(), 10u);
  EXPECT_EQ(r.ec, asio::error::connection_aborted) << r.ec.message();
  ASSERT_TRUE(r.why);
  EXPECT_NE(r.why->detail.find("bytes missing"), std::string::npos) << r.why->detail;
}

TEST(StripedStream, AConnectionCutInsideAFrameFailsTheStream) {
  const auto r = against(2, [](std::vector<tcp::socket>& raw) -> awaitable<void> {
    const auto h = stripe::encode(stripe::FrameHeader{0, 1000});
    co_await asio::async_write(raw[0], asio::buffer(h), use_awaitable);
    co_await asio::async_write(raw[0], asio::buffer("partial", 7), use_awaitable);
    raw[0].shutdown(tcp::socket::shutdown_send);
  });
  EXPECT_EQ(r.ec, asio::error::connection_reset) << r.ec.message();
}

TEST(StripedStream, AReadTimesOutAtItsDeadline) {
  const auto r = against(
      3, [](std::vector<tcp::socket>&) -> awaitable<void> { co_return; }, 200ms);
  EXPECT_EQ(r.ec, asio::error::timed_out) << r.ec.message();
}

}  // namespace
}  // namespace ferry::net
