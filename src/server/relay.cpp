#include "server/relay.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

namespace ferry::server {

using namespace net;
using proto::RelayStatus;

struct Relay::Waiter {
  explicit Waiter(beast::tcp_stream s) : stream(std::move(s)), timer(stream.get_executor()) {}
  beast::tcp_stream stream;
  asio::steady_timer timer;
  bool taken = false;
};

namespace {
awaitable<void> answer(beast::tcp_stream& s, RelayStatus status) {
  const std::uint8_t b = static_cast<std::uint8_t>(status);
  error_code ec;
  s.expires_after(std::chrono::seconds(5));
  co_await asio::async_write(s, asio::buffer(&b, 1), redirect(ec));
  s.expires_never();
}

void close(beast::tcp_stream& s) {
  error_code ec;
  s.socket().shutdown(tcp::socket::shutdown_both, ec);
  s.close();
}
}  // namespace

void Relay::add_grant(const proto::Bytes& grant) {
  expire_grants();
  Grant g{};
  std::copy(grant.begin(), grant.end(), g.begin());
  grants_[g] = Entry{std::chrono::steady_clock::now() + limits_.grant_lifetime, {}};
}

void Relay::expire_grants() {
  const auto now = std::chrono::steady_clock::now();
  for (auto it = grants_.begin(); it != grants_.end();) {
    const bool idle = !it->second.sides[0] && !it->second.sides[1];
    it = (idle && it->second.expiry < now) ? grants_.erase(it) : std::next(it);
  }
}

awaitable<void> Relay::handle(beast::tcp_stream stream) {
  std::array<std::uint8_t, proto::kRelayHelloBytes> hello{};
  std::copy(proto::kRelayMagic.begin(), proto::kRelayMagic.end(), hello.begin());
  error_code ec;
  stream.expires_after(limits_.hello_timeout);
  co_await asio::async_read(stream, asio::buffer(hello.data() + 4, hello.size() - 4), redirect(ec));
  stream.expires_never();
  if (ec) co_return;
  const auto h = proto::decode_relay_hello(hello);
  if (!h) {
    co_await answer(stream, RelayStatus::malformed);
    co_return close(stream);
  }
  expire_grants();
  const auto it = grants_.find(h->grant);
  if (it == grants_.end() || it->second.expiry < std::chrono::steady_clock::now()) {
    co_await answer(stream, RelayStatus::unknown_grant);
    co_return close(stream);
  }
  const int me = h->side == proto::Side::sender ? 0 : 1;
  Entry& entry = it->second;
  if (entry.sides[me]) {
    co_await answer(stream, RelayStatus::side_taken);
    co_return close(stream);
  }
  auto self = std::make_shared<Waiter>(std::move(stream));
  if (auto peer = entry.sides[1 - me]) {
    grants_.erase(it);  // consumed: nobody else can use this grant
    peer->taken = true;
    peer->timer.cancel();
    co_await answer(self->stream, RelayStatus::paired);
    co_await answer(peer->stream, RelayStatus::paired);
    co_return co_await forward(self, peer);
  }
  entry.sides[me] = self;
  self->timer.expires_after(limits_.wait_for_peer);
  co_await self->timer.async_wait(redirect(ec));
  if (self->taken) co_return;  // the peer's coroutine forwards for both
  const auto again = grants_.find(h->grant);
  if (again != grants_.end() && again->second.sides[me] == self) again->second.sides[me].reset();
  co_await answer(self->stream, RelayStatus::timeout);
  close(self->stream);
}

awaitable<void> Relay::forward(std::shared_ptr<Waiter> a, std::shared_ptr<Waiter> b) {
  auto remaining = std::make_shared<int>(2);
  asio::co_spawn(co_await asio::this_coro::executor, pump(b, a, remaining), asio::detached);
  co_await pump(a, b, remaining);
}

awaitable<void> Relay::pump(std::shared_ptr<Waiter> from, std::shared_ptr<Waiter> to,
                            std::shared_ptr<int> remaining) {
  std::vector<std::uint8_t> buf(limits_.buffer_bytes);
  error_code ec;
  for (;;) {
    const std::size_t n = co_await from->stream.async_read_some(asio::buffer(buf), redirect(ec));
    if (ec) break;
    co_await asio::async_write(to->stream, asio::buffer(buf.data(), n), redirect(ec));
    if (ec) break;
  }
  error_code ignored;
  if (ec == asio::error::eof) {
    to->stream.socket().shutdown(tcp::socket::shutdown_send, ignored);  // pass the half-close on
  } else {
    close(from->stream);
    close(to->stream);
  }
  if (--*remaining == 0) {
    close(from->stream);
    close(to->stream);
  }
}

}  // namespace ferry::server
