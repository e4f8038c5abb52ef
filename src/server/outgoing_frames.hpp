// What a server WebSocket owes its client: text frames queued by whoever has something to say
// (the rendezvous or wormhole mailbox state, from any coroutine) and written in order by one
// writer, which ends with a close frame when asked to, or quietly when the reader is done.
// Bounded: a client that does not read what it is sent (a flood's way to make the server hold
// its messages) is cut off once its queue, or its address's queues together, pass their bytes.
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <string>

#include <boost/beast/websocket/rfc6455.hpp>

#include "net/websocket_client.hpp"

namespace ferry::server {

// A byte budget the outgoing queues of one client address share.
struct QueueBudget {
  std::size_t used = 0;
  std::size_t limit = 0;
};

class OutgoingFrames {
 public:
  // max_bytes: this connection's queue; shared (may be null): its address's.
  OutgoingFrames(net::WebSocket& ws, std::size_t max_bytes, std::shared_ptr<QueueBudget> shared)
      : ws_(ws), wake_(ws.get_executor()), max_bytes_(max_bytes), shared_(std::move(shared)) {}
  OutgoingFrames(const OutgoingFrames&) = delete;
  OutgoingFrames& operator=(const OutgoingFrames&) = delete;
  ~OutgoingFrames() { forget(queued_); }

  void push(std::string frame) {
    if (overflowed_) return;
    const std::size_t n = frame.size();
    if (queued_ + n > max_bytes_ || (shared_ && shared_->used + n > shared_->limit)) {
      // The client does not read: the connection goes (its reader and any write under way
      // fail, and it unwinds, freeing what was queued); nothing more is queued meanwhile.
      overflowed_ = true;
      done_ = true;
      ws_.next_layer().close();
      wake_.cancel();
      return;
    }
    queued_ += n;
    if (shared_) shared_->used += n;
    queue_.push_back(std::move(frame));
    wake_.cancel();
  }
  // After what is queued, a close frame with this reason; then the writer ends.
  void close(net::beast::websocket::close_reason reason) {
    close_ = std::move(reason);
    wake_.cancel();
  }
  // The reader is done: the writer ends after what is queued, without a close frame.
  void finish() {
    done_ = true;
    wake_.cancel();
  }
  bool closing() const { return close_.has_value(); }
  // Whether the client was cut off for not reading.
  bool overflowed() const { return overflowed_; }

  // The writer; the caller keeps this object (and its WebSocket) alive until it returns.
  net::awaitable<void> write_all() {
    net::error_code ec;
    for (;;) {
      while (!queue_.empty() && !overflowed_) {
        ws_.text(true);
        co_await ws_.async_write(net::asio::buffer(queue_.front()), net::redirect(ec));
        if (ec || overflowed_) co_return;
        forget(queue_.front().size());
        queue_.pop_front();
      }
      if (overflowed_) co_return;
      if (close_) {
        co_await ws_.async_close(*close_, net::redirect(ec));
        co_return;
      }
      if (done_) co_return;
      wake_.expires_at(net::asio::steady_timer::time_point::max());
      co_await wake_.async_wait(net::redirect(ec));
    }
  }

 private:
  void forget(std::size_t n) {
    queued_ -= n;
    if (shared_) shared_->used -= n;
  }

  net::WebSocket& ws_;
  net::asio::steady_timer wake_;
  std::size_t max_bytes_;
  std::shared_ptr<QueueBudget> shared_;
  std::size_t queued_ = 0;
  std::deque<std::string> queue_;
  std::optional<net::beast::websocket::close_reason> close_;
  bool done_ = false;
  bool overflowed_ = false;
};

}  // namespace ferry::server
