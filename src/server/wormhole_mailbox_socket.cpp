#include "server/wormhole_mailbox_socket.hpp"

#include <boost/beast/core/buffers_to_string.hpp>
#include <memory>

namespace ferry::server {

using namespace net;
namespace websocket = beast::websocket;

namespace {

class Socket : public MailboxPeer, public std::enable_shared_from_this<Socket> {
 public:
  Socket(WebSocket ws, WormholeConnection how)
      : ws_(std::move(ws)),
        how_(std::move(how)),
        out_(ws_, kWormholeMaxQueued, how_.address_queues),
        deadline_(ws_.get_executor()) {}

  void deliver(std::string frame) override { out_.push(std::move(frame)); }
  bool may_try_a_code() override { return !how_.may_try_a_code || how_.may_try_a_code(); }

  awaitable<void> run(WormholeMailbox& mailbox) {
    auto self = shared_from_this();
    asio::co_spawn(ws_.get_executor(), writer(self), asio::detached);
    asio::co_spawn(ws_.get_executor(), expire(self), asio::detached);
    mailbox.on_connect(*this);
    beast::flat_buffer buffer;
    error_code ec;
    for (;;) {
      buffer.clear();
      co_await ws_.async_read(buffer, redirect(ec));
      if (ec || !ws_.got_text()) break;
      const std::string text = beast::buffers_to_string(buffer.data());
      const double now =
          std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
              .count();
      if (!mailbox.on_frame(*this, text, now)) break;
      if (!holding_ && mailbox.holds(*this)) {
        holding_ = true;
        if (how_.on_holding) how_.on_holding();
        deadline_.cancel();  // on to the next stage's deadline
      }
      if (!paired_ && mailbox.paired(*this)) {
        paired_ = true;
        deadline_.cancel();
      }
    }
    done_ = true;
    deadline_.cancel();
    mailbox.on_disconnect(*this);
    out_.close(websocket::close_code::normal);
  }

 private:
  awaitable<void> writer(std::shared_ptr<Socket>) { co_await out_.write_all(); }

  // One deadline per stage: to hold a nameplate or mailbox, for the mailbox to pair, and in all.
  awaitable<void> expire(std::shared_ptr<Socket>) {
    const auto started = std::chrono::steady_clock::now();
    while (!done_) {
      const std::string_view stage = !holding_  ? "deadline_wormhole_unbound"
                                     : !paired_ ? "deadline_wormhole_unpaired"
                                                : "deadline_wormhole_lifetime";
      deadline_.expires_at(!holding_  ? started + how_.hold_within
                           : !paired_ ? started + how_.pair_within
                                      : started + how_.stay_at_most);
      error_code ec;
      co_await deadline_.async_wait(redirect(ec));
      if (done_) co_return;
      if (ec) continue;  // a stage passed (or the connection ended): look again
      if (how_.on_deadline) how_.on_deadline(stage);
      // Closing the socket ends the reader, which unwinds the connection and its mailbox state.
      ws_.next_layer().close();
      co_return;
    }
  }

  WebSocket ws_;
  WormholeConnection how_;
  OutgoingFrames out_;
  asio::steady_timer deadline_;
  bool holding_ = false;
  bool paired_ = false;
  bool done_ = false;
};

}  // namespace

awaitable<void> serve_wormhole_mailbox(WebSocket ws, WormholeMailbox& mailbox,
                                       WormholeConnection how) {
  auto socket = std::make_shared<Socket>(std::move(ws), std::move(how));
  co_await socket->run(mailbox);
}

}  // namespace ferry::server
