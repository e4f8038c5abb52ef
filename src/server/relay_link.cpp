#include "server/relay_link.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/write.hpp>
#include <optional>

#include "server/routes.hpp"

namespace ferry::server {

using namespace net;
namespace websocket = beast::websocket;
using proto::RelayStatus;

namespace {

class RawLink : public RelayLink {
 public:
  explicit RawLink(AnyStream s) : s_(std::move(s)) {}
  awaitable<std::size_t> read_some(asio::mutable_buffer b, error_code& ec) override {
    co_return co_await s_.async_read_some(b, redirect(ec));
  }
  awaitable<void> send_status(RelayStatus s, error_code& ec) override {
    const auto b = static_cast<std::uint8_t>(s);
    co_await asio::async_write(s_, asio::buffer(&b, 1), redirect(ec));
  }
  awaitable<void> send_data(asio::const_buffer b, error_code& ec) override {
    const auto header = proto::encode_relay_data_header(static_cast<std::uint32_t>(b.size()));
    const std::array<asio::const_buffer, 2> both{asio::buffer(header), b};
    co_await asio::async_write(s_, both, redirect(ec));
  }
  awaitable<void> send_eof() override {
    s_.shutdown_send();
    co_return;
  }
  awaitable<void> end(RelayStatus s, std::string_view text) override {
    const auto frame = proto::encode_relay_end(s, text);
    error_code ec;
    s_.expires_after(std::chrono::seconds(5));
    co_await asio::async_write(s_, asio::buffer(frame), redirect(ec));
    close();
  }
  void expires_after(std::chrono::steady_clock::duration d) override { s_.expires_after(d); }
  void expires_never() override { s_.expires_never(); }
  void close() override { s_.close(); }
  beast::tcp_stream& tcp() override { return s_.tcp(); }

  bool spliceable() const override { return !s_.tls(); }

  awaitable<std::size_t> read_into(const SplicePipe& pipe, std::size_t most,
                                   error_code& ec) override {
    auto& socket = s_.tcp().socket();
    for (;;) {
      const ssize_t n = ::splice(socket.native_handle(), nullptr, pipe.write_end(), nullptr, most,
                                 SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) co_return static_cast<std::size_t>(n);
      if (n == 0) {
        ec = asio::error::eof;
        co_return 0;
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN) {
        ec.assign(errno, boost::system::system_category());
        co_return 0;
      }
      co_await socket.async_wait(tcp::socket::wait_read, redirect(ec));
      if (ec) co_return 0;
    }
  }

  awaitable<void> send_from(const SplicePipe& pipe, std::size_t n, error_code& ec) override {
    const auto header = proto::encode_relay_data_header(static_cast<std::uint32_t>(n));
    co_await asio::async_write(s_, asio::buffer(header), redirect(ec));
    co_await splice_out(pipe, n, ec);
  }

 protected:
  AnyStream& stream() { return s_; }

  // The n bytes waiting in the pipe, to the client as they are.
  awaitable<void> splice_out(const SplicePipe& pipe, std::size_t n, error_code& ec) {
    auto& socket = s_.tcp().socket();
    while (!ec && n > 0) {
      const ssize_t m = ::splice(pipe.read_end(), nullptr, socket.native_handle(), nullptr, n,
                                 SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (m > 0) {
        n -= static_cast<std::size_t>(m);
      } else if (m < 0 && errno == EAGAIN) {
        co_await socket.async_wait(tcp::socket::wait_write, redirect(ec));
      } else if (m < 0 && errno != EINTR) {
        ec.assign(errno, boost::system::system_category());
      } else if (m == 0) {
        ec = asio::error::broken_pipe;  // the pipe held fewer bytes than it said
      }
    }
  }

 private:
  AnyStream s_;
};

// A magic-wormhole transit relay connection: once paired it hears "ok\n", then the peer's bytes
// exactly as sent (no frames); the relay's reasons have no words in that protocol: it closes.
class TransitLink : public RawLink {
 public:
  using RawLink::RawLink;
  awaitable<void> send_status(RelayStatus s, error_code& ec) override {
    if (s != RelayStatus::paired) co_return;
    constexpr std::string_view kOk = "ok\n";
    co_await asio::async_write(stream(), asio::buffer(kOk), redirect(ec));
  }
  awaitable<void> send_data(asio::const_buffer b, error_code& ec) override {
    co_await asio::async_write(stream(), b, redirect(ec));
  }
  awaitable<void> end(RelayStatus, std::string_view) override {
    close();
    co_return;
  }
  awaitable<void> send_from(const SplicePipe& pipe, std::size_t n, error_code& ec) override {
    co_await splice_out(pipe, n, ec);
  }
};

class WebSocketLink : public RelayLink {
 public:
  explicit WebSocketLink(WebSocket ws) : ws_(std::move(ws)) {
    ws_.binary(true);
    ws_.auto_fragment(false);  // one frame per forwarded chunk, not 4 KiB pieces
  }
  awaitable<std::size_t> read_some(asio::mutable_buffer b, error_code& ec) override {
    // Message boundaries mean nothing to the relay: read straight into the forwarding buffer.
    const std::size_t n = co_await ws_.async_read_some(b, redirect(ec));
    if (ec == websocket::error::closed) ec = asio::error::eof;
    co_return n;
  }
  awaitable<void> send_status(RelayStatus s, error_code& ec) override {
    const auto b = static_cast<std::uint8_t>(s);
    co_await ws_.async_write(asio::buffer(&b, 1), redirect(ec));
  }
  awaitable<void> send_data(asio::const_buffer b, error_code& ec) override {
    co_await ws_.async_write(b, redirect(ec));
  }
  awaitable<void> send_eof() override { co_await close_within(websocket::close_code::normal); }
  awaitable<void> end(RelayStatus s, std::string_view text) override {
    // A close reason must fit in a control frame.
    websocket::close_reason reason;
    reason.code = static_cast<std::uint16_t>(proto::kRelayCloseBase + static_cast<std::uint8_t>(s));
    reason.reason = text.substr(0, 120);
    co_await close_within(reason);
    close();
  }
  void expires_after(std::chrono::steady_clock::duration d) override {
    ws_.next_layer().expires_after(d);
  }
  void expires_never() override { ws_.next_layer().expires_never(); }
  void close() override { ws_.next_layer().close(); }
  beast::tcp_stream& tcp() override { return ws_.next_layer().tcp(); }

 protected:
  // Sends a close frame and waits up to 5 s for the client's: while a read is pending, Beast
  // waits for the answer through that read, which no deadline set now would cover.
  awaitable<void> close_within(const websocket::close_reason& reason) {
    asio::steady_timer guard(co_await asio::this_coro::executor, std::chrono::seconds(5));
    guard.async_wait([&stream = ws_.next_layer()](error_code e) {
      if (!e) stream.close();
    });
    error_code ec;
    co_await ws_.async_close(reason, redirect(ec));
  }

  WebSocket ws_;
};

}  // namespace

std::optional<SplicePipe> SplicePipe::open(std::size_t capacity) {
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return std::nullopt;
  // Larger than the default 64 KiB where allowed (pipe-max-size, 1 MiB by default).
  const int got = ::fcntl(fds[1], F_SETPIPE_SZ, static_cast<int>(capacity));
  const int size = got > 0 ? got : ::fcntl(fds[1], F_GETPIPE_SZ);
  return SplicePipe(fds[0], fds[1], static_cast<std::size_t>(size > 0 ? size : 65536));
}

SplicePipe::SplicePipe(SplicePipe&& o) noexcept
    : fds_{o.fds_[0], o.fds_[1]}, capacity_(o.capacity_) {
  o.fds_[0] = o.fds_[1] = -1;
}

SplicePipe::~SplicePipe() {
  for (const int fd : fds_)
    if (fd >= 0) ::close(fd);
}

awaitable<std::size_t> RelayLink::read_into(const SplicePipe&, std::size_t, error_code& ec) {
  ec = asio::error::operation_not_supported;
  co_return 0;
}

awaitable<void> RelayLink::send_from(const SplicePipe&, std::size_t, error_code& ec) {
  ec = asio::error::operation_not_supported;
  co_return;
}

struct RelayDownloads::Slot {
  Slot(std::string t, std::weak_ptr<Map> m, const asio::any_io_executor& ex)
      : ticket(std::move(t)), map(std::move(m)), arrived(ex) {
    arrived.expires_at(asio::steady_timer::time_point::max());
  }
  ~Slot() {
    if (auto m = map.lock()) {
      const auto it = m->find(ticket);
      if (it != m->end() && it->second.expired()) m->erase(it);
    }
  }
  Slot(const Slot&) = delete;
  Slot& operator=(const Slot&) = delete;
  std::string ticket;
  std::weak_ptr<Map> map;
  std::optional<AnyStream> body;  // the GET's connection, once it came
  std::shared_ptr<void> held;     // kept as long as the body (the server's record of it)
  asio::steady_timer arrived;     // cancelled when it comes
};

namespace {

// The WebSocket for everything but the bytes to the browser, which go to the GET's body.
class SplitLink : public WebSocketLink {
 public:
  SplitLink(WebSocket ws, std::shared_ptr<RelayDownloads::Slot> slot)
      : WebSocketLink(std::move(ws)), slot_(std::move(slot)) {}
  awaitable<void> send_data(asio::const_buffer b, error_code& ec) override {
    if (!slot_->body) {
      slot_->arrived.expires_after(RelayDownloads::kAttachTimeout);
      error_code waited;
      co_await slot_->arrived.async_wait(redirect(waited));
      if (!slot_->body) {
        ec = asio::error::timed_out;
        co_return;
      }
    }
    co_await asio::async_write(*slot_->body, b, redirect(ec));
  }
  net::tcp::socket* data_socket() override {
    return slot_->body ? &slot_->body->tcp().socket() : nullptr;
  }
  awaitable<void> send_eof() override {
    if (slot_->body) slot_->body->shutdown_send();  // the end of the response body
    co_return;
  }
  awaitable<void> end(RelayStatus s, std::string_view text) override {
    // The body ends first; the reason follows at once on the WebSocket, where the page looks
    // for it when its download ends early.
    if (slot_->body) slot_->body->shutdown_send();
    co_await WebSocketLink::end(s, text);
  }
  void expires_after(std::chrono::steady_clock::duration d) override {
    WebSocketLink::expires_after(d);
    if (slot_->body) slot_->body->expires_after(d);
  }
  void expires_never() override {
    WebSocketLink::expires_never();
    if (slot_->body) slot_->body->expires_never();
  }
  void close() override {
    WebSocketLink::close();
    if (slot_->body) slot_->body->close();
    slot_->arrived.cancel();
  }

 private:
  std::shared_ptr<RelayDownloads::Slot> slot_;
};

}  // namespace

std::shared_ptr<RelayDownloads::Slot> RelayDownloads::open(std::string_view ticket,
                                                           const asio::any_io_executor& ex) {
  if (!valid_ticket(ticket)) return nullptr;
  auto& entry = (*slots_)[std::string(ticket)];
  if (!entry.expired()) return nullptr;
  auto slot = std::make_shared<Slot>(std::string(ticket), slots_, ex);
  entry = slot;
  return slot;
}

bool RelayDownloads::waiting(std::string_view ticket) const {
  const auto it = slots_->find(ticket);
  return it != slots_->end() && !it->second.expired();
}

bool RelayDownloads::attach(std::string_view ticket, AnyStream stream, std::shared_ptr<void> held) {
  const auto it = slots_->find(ticket);
  if (it == slots_->end()) return false;
  auto slot = it->second.lock();
  slots_->erase(it);  // one GET per ticket
  if (!slot) return false;
  slot->body.emplace(std::move(stream));
  slot->held = std::move(held);
  slot->arrived.cancel();
  return true;
}

std::unique_ptr<RelayLink> raw_relay_link(AnyStream s) {
  return std::make_unique<RawLink>(std::move(s));
}

std::unique_ptr<RelayLink> transit_relay_link(AnyStream s) {
  return std::make_unique<TransitLink>(std::move(s));
}

std::unique_ptr<RelayLink> websocket_relay_link(WebSocket ws) {
  return std::make_unique<WebSocketLink>(std::move(ws));
}

std::unique_ptr<RelayLink> split_relay_link(WebSocket ws,
                                            std::shared_ptr<RelayDownloads::Slot> slot) {
  return std::make_unique<SplitLink>(std::move(ws), std::move(slot));
}

}  // namespace ferry::server
