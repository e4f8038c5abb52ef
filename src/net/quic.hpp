// QUIC (ngtcp2 0.12 + GnuTLS 3.7) on a UdpMux's socket: one connection to one peer address and
// one bidirectional stream, offered as a ByteStream so the record layer runs over it like over
// TCP. ngtcp2 is sans-I/O; this adapter feeds it packets and time and sends what it produces.
// The QUIC server presents an ephemeral self-signed certificate; the client accepts only the one
// whose SHA-256 fingerprint it received under the session key (as WebRTC pins DTLS certificates).
#pragma once

#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "net/byte_stream.hpp"
#include "net/udp_mux.hpp"
#include "proto/error.hpp"
#include "proto/send_stall.hpp"

namespace ferry::net {

class QuicIdentity {
 public:
  // A fresh ECDSA P-256 key and self-signed certificate.
  static proto::Result<std::shared_ptr<QuicIdentity>> generate();
  ~QuicIdentity();
  QuicIdentity(const QuicIdentity&) = delete;
  QuicIdentity& operator=(const QuicIdentity&) = delete;
  const proto::Bytes& fingerprint() const { return fingerprint_; }

  struct Native;  // the GnuTLS credentials (quic.cpp)
  const Native& native() const { return *native_; }

 private:
  QuicIdentity();
  std::unique_ptr<Native> native_;
  proto::Bytes fingerprint_;
};

class QuicConnection : public std::enable_shared_from_this<QuicConnection> {
 public:
  ~QuicConnection();
  // Client: dials remote over mux; only a server certificate with fingerprint pinned is accepted.
  // rtt: what the caller measured of the path's round trip (0: unknown), QUIC's first estimate.
  static proto::Result<std::shared_ptr<QuicConnection>> connect(std::shared_ptr<UdpMux> mux,
                                                                const udp::endpoint& remote,
                                                                proto::Bytes pinned,
                                                                std::chrono::nanoseconds rtt);
  // Server: answers the client's first Initial packet from remote.
  static proto::Result<std::shared_ptr<QuicConnection>> accept(
      std::shared_ptr<UdpMux> mux, const udp::endpoint& remote,
      std::shared_ptr<QuicIdentity> identity, proto::ByteView first_packet,
      std::chrono::nanoseconds rtt);
  // Whether a datagram could start a QUIC connection (a client Initial).
  static bool is_initial(proto::ByteView datagram);

  // Feed every QUIC datagram that arrives on the mux.
  void on_packet(proto::ByteView datagram, const udp::endpoint& from);
  // Waits until the handshake is done and the stream is open; an error saying why when it fails
  // or timeout passes.
  awaitable<proto::Result<void>> established(std::chrono::milliseconds timeout);
  const std::string& failure() const { return failure_; }
  const udp::endpoint& remote() const { return remote_; }
  // The stream as a ByteStream; holds this connection (and its socket) alive.
  std::unique_ptr<ByteStream> stream();

  // ByteStream's work, used by the stream object.
  awaitable<std::size_t> read_some(asio::mutable_buffer b, error_code& ec);
  awaitable<void> write(asio::const_buffer b, error_code& ec);
  awaitable<void> finish(std::chrono::milliseconds timeout);
  // Until every byte written is acknowledged, the connection fails or timeout passes.
  awaitable<void> acknowledged(std::chrono::milliseconds timeout);
  void abort();
  // Closes the connection because what carries it ended (a relay at one of its limits): the
  // stream's end_reason() says why.
  void end(proto::Error why) {
    if (!end_reason_) end_reason_ = std::move(why);
    abort();
  }
  const std::optional<proto::Error>& end_reason() const { return end_reason_; }
  // The path stopped carrying the connection after it was established (idle timeout, a stall):
  // it fails, and the stream's end_reason() says so.
  void path_broke(std::string why);
  void set_deadline(std::optional<std::chrono::steady_clock::time_point> d) { deadline_ = d; }

  struct Callbacks;
  // The ngtcp2 connection, its GnuTLS session and the glue between them (quic.cpp).
  struct Native;

 private:
  QuicConnection(std::shared_ptr<UdpMux> mux, const udp::endpoint& remote);
  // Sets up the TLS side of the ngtcp2 connection in native_ (the server's identity, or none).
  proto::Result<void> attach(const QuicIdentity* identity);
  void schedule_flush();
  void flush();
  void arm_timer();
  void fail(std::string why);
  void wake_all();
  awaitable<bool> wait(asio::steady_timer& t);

  std::shared_ptr<UdpMux> mux_;
  udp::endpoint remote_;
  std::unique_ptr<Native> native_;
  std::shared_ptr<QuicIdentity> identity_;
  std::vector<std::uint8_t> local_addr_, remote_addr_;  // sockaddr storage for ngtcp2_path
  proto::Bytes pinned_;

  asio::steady_timer timer_;
  asio::steady_timer reader_;
  asio::steady_timer writer_;
  asio::steady_timer ready_;
  bool flush_posted_ = false;
  bool rx_wake_ = false;  // stream data arrived: wake the reader after the next flush
  bool timer_armed_ = false;
  std::uint64_t armed_expiry_ = 0;
  bool waiting_writable_ = false;
  std::vector<std::uint8_t> pending_packet_;  // built but not yet taken by the socket
  std::size_t pending_segment_ = 0;           // its datagrams' size (GSO)
  std::vector<std::uint8_t> batch_;
  std::string failure_;
  std::optional<proto::Error> end_reason_;
  bool failed_ = false;
  bool established_ = false;
  std::int64_t stream_id_ = -1;
  std::optional<std::chrono::steady_clock::time_point> deadline_;

  // Receive side: bytes of the stream not read yet.
  std::vector<std::uint8_t> rx_;  // [rx_read_, size) not read yet
  std::size_t rx_read_ = 0;
  bool rx_fin_ = false;
  // Send side: chunks kept until acknowledged (ngtcp2 retransmits from them).
  std::deque<std::vector<std::uint8_t>> tx_;
  std::uint64_t tx_base_ = 0;   // stream offset of tx_.front()
  std::uint64_t tx_sent_ = 0;   // offset handed to ngtcp2
  std::uint64_t tx_end_ = 0;    // offset after the last byte written
  std::uint64_t tx_acked_ = 0;  // offset acknowledged (contiguous)
  // Stream bytes out and nothing acknowledged for long: acknowledgements and pings may still
  // pass where the data's packets do not (a path whose MTU shrank), and no idle timeout ends that.
  proto::SendStall stall_;
  bool writer_waiting_ = false;  // a write waits for room (the queue's or memory's)
  bool fin_wanted_ = false;
  bool fin_sent_ = false;

  friend struct Callbacks;
};

}  // namespace ferry::net
