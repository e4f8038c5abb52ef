#include "server/wormhole_mailbox_socket.hpp"

#include "server/outgoing_frames.hpp"

#include <boost/beast/core/buffers_to_string.hpp>
#include <memory>

namespace ferry::server {

using namespace net;
namespace websocket = beast::websocket;

namespace {

class Socket : public MailboxPeer, public std::enable_shared_from_this<Socket> {
 public:
  explicit Socket(WebSocket ws) : ws_(std::move(ws)), out_(ws_) {}

  void deliver(std::string frame) override { out_.push(std::move(frame)); }

  awaitable<void> run(WormholeMailbox& mailbox, std::chrono::seconds unbound_timeout,
                      const std::function<void()>& on_bound) {
    auto self = shared_from_this();
    asio::co_spawn(ws_.get_executor(), writer(self), asio::detached);
    // A client that never says which application it is holds nothing for long.
    asio::steady_timer unbound(ws_.get_executor(), unbound_timeout);
    unbound.async_wait([this, &mailbox](const error_code& ec) {
      if (!ec && !mailbox.bound(*this)) ws_.next_layer().close();
    });
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
      if (!bound_ && mailbox.bound(*this)) {
        bound_ = true;
        on_bound();
      }
    }
    unbound.cancel();
    mailbox.on_disconnect(*this);
    out_.close(websocket::close_code::normal);
  }

 private:
  awaitable<void> writer(std::shared_ptr<Socket>) { co_await out_.write_all(); }

  WebSocket ws_;
  OutgoingFrames out_;
  bool bound_ = false;
};

}  // namespace

awaitable<void> serve_wormhole_mailbox(WebSocket ws, WormholeMailbox& mailbox,
                                       std::chrono::seconds unbound_timeout,
                                       std::function<void()> on_bound) {
  auto socket = std::make_shared<Socket>(std::move(ws));
  co_await socket->run(mailbox, unbound_timeout, on_bound);
}

}  // namespace ferry::server
