// What the record layer runs over: a reliable byte stream, whatever carries it — a TCP or TLS
// connection (direct, or to the relay with the relay's frames), or binary WebSocket messages to
// the relay. Small on purpose: read some, write all, deadlines, and two ways to close.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <boost/beast/websocket/stream.hpp>

#include "net/any_stream.hpp"
#include "net/send_watch.hpp"
#include "proto/bytes.hpp"
#include "proto/error.hpp"

namespace ferry::net {

class ByteStream {
 public:
  virtual ~ByteStream() = default;
  virtual awaitable<std::size_t> read_some(asio::mutable_buffer b, error_code& ec) = 0;
  virtual awaitable<void> write(asio::const_buffer b, error_code& ec) = 0;
  virtual void expires_after(std::chrono::steady_clock::duration d) = 0;
  virtual void expires_never() = 0;
  // Stops sending, then discards what the peer still sends until it closes or timeout passes, so
  // our last bytes are not destroyed by a reset.
  virtual awaitable<void> close_gracefully(std::chrono::milliseconds timeout) = 0;
  virtual void close() = 0;
  // Waits (within timeout) until the peer's transport has acknowledged what we wrote, where the
  // transport says so and close() would otherwise destroy it: QUIC. A TCP connection's kernel
  // delivers what was written after close() by itself.
  virtual awaitable<void> acknowledged(std::chrono::milliseconds /*timeout*/) { co_return; }
  // Why the far end ended the stream, when it said (a relay at one of its limits).
  virtual std::optional<proto::Error> end_reason() const { return std::nullopt; }
  // Called once the relay has paired us: a raw connection reads the relay's frames from then on
  // (WebSocket messages need nothing).
  virtual void start_relay_frames() {}
  // How many bytes are worth putting in one record on this stream. A record is sealed, and at
  // the far end opened, hashed and written, as one piece of work; on a stream whose own
  // acknowledgements run in that same event loop (QUIC) a smaller piece keeps them flowing.
  virtual std::size_t record_bytes() const { return std::size_t{1} << 20; }
  // How many connections carry it (wide TCP: several).
  virtual std::size_t connections() const { return 1; }
  // Called once the peer has proved it holds the session key (its hello): a stream that holds
  // little for a peer nobody knows yet may hold more from then on (wide TCP's reordering).
  virtual void authenticated() {}
};

awaitable<void> read_exact(ByteStream& s, asio::mutable_buffer b, error_code& ec);

// A TCP or TLS connection's bytes as they come. On a raw connection to the relay, after "paired"
// start_relay_frames() switches reading to the relay's frames (proto/relay_hello.hpp), and an end
// frame becomes end_reason(). where names the far end in errors.
class SocketStream : public ByteStream {
 public:
  // first: bytes already read from s (an accepted connection's opening), read again first.
  SocketStream(AnyStream s, std::string where, proto::Bytes first = {});
  void start_relay_frames() override { framed_ = true; }

  awaitable<std::size_t> read_some(asio::mutable_buffer b, error_code& ec) override;
  awaitable<void> write(asio::const_buffer b, error_code& ec) override;
  void expires_after(std::chrono::steady_clock::duration d) override { s_.expires_after(d); }
  void expires_never() override { s_.expires_never(); }
  awaitable<void> close_gracefully(std::chrono::milliseconds timeout) override;
  void close() override {
    watch_.stop();
    s_.close();
  }
  std::optional<proto::Error> end_reason() const override {
    if (watch_.given_up()) return watch_.given_up_error(where_);
    return end_;
  }

 private:
  awaitable<std::size_t> read_some_now(asio::mutable_buffer b, error_code& ec);

  AnyStream s_;
  SendWatch watch_;  // after s_: stops before the socket closes
  std::string where_;
  proto::Bytes first_;
  std::size_t first_taken_ = 0;
  bool framed_ = false;
  bool reading_ = false;  // a read_some is under way
  std::size_t left_ = 0;
  std::optional<proto::Error> end_;
};

using WebSocket = beast::websocket::stream<AnyStream>;
// Binary WebSocket messages as one byte stream; a close frame with a relay status (4000 + status)
// becomes end_reason(), a normal close is the end of the stream.
std::unique_ptr<ByteStream> websocket_byte_stream(WebSocket ws, std::string where);

}  // namespace ferry::net
