// What a server WebSocket owes its client: text frames queued by whoever has something to say
// (the rendezvous or wormhole mailbox state, from any coroutine) and written in order by one
// writer, which ends with a close frame when asked to, or quietly when the reader is done.
#pragma once

#include <deque>
#include <optional>
#include <string>

#include <boost/beast/websocket/rfc6455.hpp>

#include "net/websocket_client.hpp"

namespace ferry::server {

class OutgoingFrames {
 public:
  explicit OutgoingFrames(net::WebSocket& ws) : ws_(ws), wake_(ws.get_executor()) {}

  void push(std::string frame) {
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

  // The writer; the caller keeps this object (and its WebSocket) alive until it returns.
  net::awaitable<void> write_all() {
    net::error_code ec;
    for (;;) {
      while (!queue_.empty()) {
        ws_.text(true);
        co_await ws_.async_write(net::asio::buffer(queue_.front()), net::redirect(ec));
        if (ec) co_return;
        queue_.pop_front();
      }
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
  net::WebSocket& ws_;
  net::asio::steady_timer wake_;
  std::deque<std::string> queue_;
  std::optional<net::beast::websocket::close_reason> close_;
  bool done_ = false;
};

}  // namespace ferry::server
