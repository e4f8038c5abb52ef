#include "net/striped_stream.hpp"

#include <netinet/tcp.h>

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <deque>

#include "net/send_watch.hpp"
#include "proto/stripe.hpp"

namespace ferry::net {

namespace stripe = proto::stripe;

namespace {

// What each connection's kernel may hold beyond what is in flight: a connection that stalls (a
// loss being repaired) takes no more frames than that, and the others carry on.
constexpr int kUnsentPerMember = 256 * 1024;

using Clock = std::chrono::steady_clock;

// Everything the member loops share with the stream; they keep it alive until they end.
struct State {
  State(const asio::any_io_executor& ex, std::vector<tcp::socket> m)
      : members(std::move(m)),
        to_write(ex, Clock::time_point::max()),
        written(ex, Clock::time_point::max()),
        readable(ex, Clock::time_point::max()),
        room(ex, Clock::time_point::max()),
        ends(ex, Clock::time_point::max()),
        in(kStripeUnauthenticatedLimit) {
    for (auto& m : members) watches.emplace_back(m);
  }

  std::vector<tcp::socket> members;
  std::vector<SendWatch> watches;  // one per member, after them: they stop first
  // Sending: frames (header and bytes) waiting for a member, and those being written.
  std::deque<proto::Bytes> frames;
  std::size_t unwritten = 0;
  std::uint64_t sent = 0;
  bool sending_done = false;
  asio::steady_timer to_write;  // wakes the members' writers
  asio::steady_timer written;   // wakes the stream's writer
  // Receiving.
  asio::steady_timer readable;  // wakes the stream's reader (bytes, an end, a failure)
  asio::steady_timer room;      // wakes the members' readers (the reader took bytes)
  asio::steady_timer ends;      // wakes a graceful close (a member ended)
  stripe::Reassembler in;
  std::size_t ended = 0;  // members the peer ended
  bool discard = false;   // closing: what still comes is dropped
  error_code failed;
  std::optional<proto::Error> why;  // a broken frame's story

  void fail(const error_code& ec) {
    if (!failed) failed = ec;
    wake_all();
  }
  void fail(proto::Error e) {
    if (!why) why = std::move(e);
    fail(asio::error::connection_aborted);
  }
  void wake_all() {
    to_write.cancel();
    written.cancel();
    readable.cancel();
    room.cancel();
    ends.cancel();
  }
};

awaitable<void> write_loop(std::shared_ptr<State> st, std::size_t i) {
  for (;;) {
    while (st->frames.empty() && !st->failed && !st->sending_done) {
      error_code ec;
      co_await st->to_write.async_wait(redirect(ec));
    }
    if (st->failed || st->frames.empty()) co_return;
    const proto::Bytes frame = std::move(st->frames.front());
    st->frames.pop_front();
    error_code ec;
    const auto writing = st->watches[i].writing();
    co_await asio::async_write(st->members[i], asio::buffer(frame), redirect(ec));
    if (ec && st->watches[i].given_up()) {
      co_return st->fail(
          st->watches[i].given_up_error("wide TCP connection " + std::to_string(i + 1)));
    }
    if (ec) co_return st->fail(ec);
    if (--st->unwritten == 0) st->written.cancel();
  }
}

awaitable<void> read_loop(std::shared_ptr<State> st, std::size_t i) {
  std::array<std::uint8_t, stripe::kFrameHeaderBytes> header{};
  for (;;) {
    error_code ec;
    co_await asio::async_read(st->members[i], asio::buffer(header), redirect(ec));
    if (ec == asio::error::eof) {
      ++st->ended;
      st->readable.cancel();
      st->ends.cancel();
      co_return;
    }
    if (ec) co_return st->fail(ec);
    const auto h = stripe::decode_frame_header(header.data());
    if (!h) co_return st->fail(h.error());
    proto::Bytes bytes(h->length);
    co_await asio::async_read(st->members[i], asio::buffer(bytes), redirect(ec));
    // A connection that ends inside a frame was cut.
    if (ec) co_return st->fail(ec == asio::error::eof ? asio::error::connection_reset : ec);
    while (!st->discard && !st->failed && !st->in.admits(h->offset)) {
      co_await st->room.async_wait(redirect(ec));
    }
    if (st->failed) co_return;
    if (st->discard) continue;
    if (auto r = st->in.add(h->offset, std::move(bytes)); !r) co_return st->fail(r.error());
    st->readable.cancel();
  }
}

class StripedStream : public ByteStream {
 public:
  StripedStream(std::vector<tcp::socket> members, std::string where) : where_(std::move(where)) {
    auto ex = members.front().get_executor();
    for (auto& m : members) {
      const int lowat = kUnsentPerMember;
      ::setsockopt(m.native_handle(), IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof lowat);
    }
    st_ = std::make_shared<State>(ex, std::move(members));
    for (std::size_t i = 0; i < st_->members.size(); ++i) {
      asio::co_spawn(ex, write_loop(st_, i), asio::detached);
      asio::co_spawn(ex, read_loop(st_, i), asio::detached);
    }
  }
  ~StripedStream() override {
    try {
      close();
    } catch (...) {  // a destructor cannot report; the sockets close with the state
    }
  }
  StripedStream(const StripedStream&) = delete;
  StripedStream& operator=(const StripedStream&) = delete;

  awaitable<std::size_t> read_some(asio::mutable_buffer b, error_code& ec) override {
    auto st = st_;
    for (;;) {
      if (st->in.ready() > 0) {
        const std::size_t n = st->in.take(static_cast<std::uint8_t*>(b.data()), b.size());
        st->room.cancel();
        co_return n;
      }
      if (st->failed) {
        ec = st->failed;
        co_return 0;
      }
      if (st->ended == st->members.size()) {
        if (st->in.gaps()) {
          st->fail(proto::Error{proto::Errc::peer_gone,
                                "the connection (" + where_ + ") ended with bytes missing"});
          ec = st->failed;
        } else {
          ec = asio::error::eof;
        }
        co_return 0;
      }
      st->readable.expires_at(deadline_);
      error_code waited;
      co_await st->readable.async_wait(redirect(waited));
      if (!waited) {
        ec = asio::error::timed_out;
        co_return 0;
      }
    }
  }

  awaitable<void> write(asio::const_buffer b, error_code& ec) override {
    auto st = st_;
    if (st->failed || st->sending_done) {
      ec = st->failed ? st->failed : asio::error::shut_down;
      co_return;
    }
    const auto* p = static_cast<const std::uint8_t*>(b.data());
    for (std::size_t left = b.size(); left > 0;) {
      const std::size_t n = std::min(left, stripe::kMaxFrameBytes);
      const auto header =
          stripe::encode(stripe::FrameHeader{st->sent, static_cast<std::uint32_t>(n)});
      proto::Bytes frame(header.begin(), header.end());
      frame.insert(frame.end(), p, p + n);
      st->frames.push_back(std::move(frame));
      ++st->unwritten;
      st->sent += n;
      p += n;
      left -= n;
    }
    st->to_write.cancel();
    co_await drain(deadline_);
    if (st->failed) {
      ec = st->failed;
    } else if (st->unwritten > 0) {
      ec = asio::error::timed_out;
    }
  }

  void expires_after(Clock::duration d) override { deadline_ = Clock::now() + d; }
  void expires_never() override { deadline_ = Clock::time_point::max(); }

  awaitable<void> close_gracefully(std::chrono::milliseconds timeout) override {
    auto st = st_;
    const auto until = Clock::now() + timeout;
    co_await drain(until);  // what was written goes first
    st->sending_done = true;
    st->to_write.cancel();
    error_code ec;
    for (auto& m : st->members) m.shutdown(tcp::socket::shutdown_send, ec);
    st->discard = true;
    st->room.cancel();
    while (!st->failed && st->ended < st->members.size()) {
      st->ends.expires_at(until);
      error_code waited;
      co_await st->ends.async_wait(redirect(waited));
      if (!waited) break;
    }
    close();
  }

  void close() override {
    error_code ec;
    for (auto& m : st_->members) m.close(ec);
    st_->fail(asio::error::operation_aborted);
  }

  std::optional<proto::Error> end_reason() const override { return st_->why; }
  std::size_t connections() const override { return st_->members.size(); }
  void authenticated() override {
    st_->in.set_limit(kStripeReorderLimit);
    st_->room.cancel();  // members waiting for room may have it now
  }

 private:
  // Until every frame queued has been written (or the stream failed, or until).
  awaitable<void> drain(Clock::time_point until) {
    auto st = st_;
    while (st->unwritten > 0 && !st->failed) {
      st->written.expires_at(until);
      error_code waited;
      co_await st->written.async_wait(redirect(waited));
      if (!waited) co_return;
    }
  }

  std::shared_ptr<State> st_;
  std::string where_;
  Clock::time_point deadline_ = Clock::time_point::max();
};

}  // namespace

std::unique_ptr<ByteStream> striped_stream(std::vector<tcp::socket> members, std::string where) {
  return std::make_unique<StripedStream>(std::move(members), std::move(where));
}

}  // namespace ferry::net
