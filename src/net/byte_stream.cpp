#include "net/byte_stream.hpp"

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_prefix.hpp>
#include <cstring>

#include "proto/relay_hello.hpp"

namespace ferry::net {

namespace websocket = beast::websocket;

awaitable<void> read_exact(ByteStream& s, asio::mutable_buffer b, error_code& ec) {
  auto* p = static_cast<std::uint8_t*>(b.data());
  std::size_t left = b.size();
  while (left > 0) {
    const std::size_t n = co_await s.read_some(asio::buffer(p, left), ec);
    if (ec) co_return;
    p += n;
    left -= n;
  }
}

SocketStream::SocketStream(AnyStream s, std::string where, proto::Bytes first)
    : s_(std::move(s)),
      watch_(s_.tcp().socket()),
      where_(std::move(where)),
      first_(std::move(first)) {}

awaitable<std::size_t> SocketStream::read_some(asio::mutable_buffer b, error_code& ec) {
  reading_ = true;
  const std::size_t n = co_await read_some_now(b, ec);
  reading_ = false;
  co_return n;
}

awaitable<std::size_t> SocketStream::read_some_now(asio::mutable_buffer b, error_code& ec) {
  if (first_taken_ < first_.size()) {
    const std::size_t n = std::min(b.size(), first_.size() - first_taken_);
    std::memcpy(b.data(), first_.data() + first_taken_, n);
    first_taken_ += n;
    co_return n;
  }
  if (framed_ && left_ == 0) {
    std::array<std::uint8_t, proto::kRelayFrameHeaderBytes> header{};
    co_await asio::async_read(s_, asio::buffer(header), redirect(ec));
    if (ec) co_return 0;
    const auto h = proto::decode_relay_frame_header(header.data());
    if (!h) {
      end_ = h.error();
      ec = asio::error::connection_aborted;
      co_return 0;
    }
    if (h->end) {
      proto::Bytes body(h->length);
      co_await asio::async_read(s_, asio::buffer(body), redirect(ec));
      end_ = proto::decode_relay_end(body, where_);
      ec = asio::error::connection_aborted;
      co_return 0;
    }
    left_ = h->length;
  }
  const std::size_t want = framed_ ? std::min(left_, b.size()) : b.size();
  const std::size_t n = co_await s_.async_read_some(asio::buffer(b.data(), want), redirect(ec));
  if (framed_) left_ -= n;
  co_return n;
}

awaitable<void> SocketStream::write(asio::const_buffer b, error_code& ec) {
  const auto writing = watch_.writing();
  co_await asio::async_write(s_, b, redirect(ec));
}

awaitable<void> SocketStream::close_gracefully(std::chrono::milliseconds timeout) {
  s_.shutdown_send();
  if (reading_) {
    // A reader is already waiting on this stream (a pipe the transfer moved away from): a second
    // read at once is not allowed. It sees the peer's end; close once it has, or at timeout.
    asio::steady_timer wait(co_await asio::this_coro::executor);
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (reading_ && std::chrono::steady_clock::now() < until) {
      wait.expires_after(std::chrono::milliseconds(20));
      error_code ec;
      co_await wait.async_wait(redirect(ec));
    }
    close();
    co_return;
  }
  std::array<std::uint8_t, std::size_t{64} * 1024> sink{};
  error_code ec;
  s_.expires_after(timeout);
  while (!ec) co_await read_some(asio::buffer(sink), ec);
  close();
}

namespace {

class WebSocketStream : public ByteStream {
 public:
  WebSocketStream(WebSocket ws, std::string where) : ws_(std::move(ws)), where_(std::move(where)) {
    ws_.binary(true);
    ws_.auto_fragment(false);  // one frame per record, not 4 KiB pieces
  }
  awaitable<std::size_t> read_some(asio::mutable_buffer b, error_code& ec) override {
    if (buffer_.size() == 0) {
      buffer_.clear();
      co_await ws_.async_read(buffer_, redirect(ec));
      if (ec == websocket::error::closed) {
        const auto& reason = ws_.reason();
        if (reason.code >= proto::kRelayCloseBase && reason.code < proto::kRelayCloseBase + 256) {
          end_ = proto::relay_status_error(
              static_cast<std::uint8_t>(reason.code - proto::kRelayCloseBase), where_,
              std::string(reason.reason));
          ec = asio::error::connection_aborted;
        } else {
          ec = asio::error::eof;
        }
      }
      if (ec) co_return 0;
    }
    const std::size_t n = asio::buffer_copy(b, buffer_.data());
    buffer_.consume(n);
    co_return n;
  }
  awaitable<void> write(asio::const_buffer b, error_code& ec) override {
    co_await ws_.async_write(b, redirect(ec));
  }
  void expires_after(std::chrono::steady_clock::duration d) override {
    ws_.next_layer().expires_after(d);
  }
  void expires_never() override { ws_.next_layer().expires_never(); }
  awaitable<void> close_gracefully(std::chrono::milliseconds timeout) override {
    // A close frame, then (Beast does this) read and drop messages until the peer's close frame.
    error_code ec;
    ws_.next_layer().expires_after(timeout);
    co_await ws_.async_close(websocket::close_code::normal, redirect(ec));
    close();
  }
  void close() override { ws_.next_layer().close(); }
  std::optional<proto::Error> end_reason() const override { return end_; }

 private:
  WebSocket ws_;
  std::string where_;
  beast::flat_buffer buffer_;
  std::optional<proto::Error> end_;
};

}  // namespace

std::unique_ptr<ByteStream> websocket_byte_stream(WebSocket ws, std::string where) {
  return std::make_unique<WebSocketStream>(std::move(ws), std::move(where));
}

}  // namespace ferry::net
