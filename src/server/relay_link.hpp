// One client's connection to the relay, whatever carries it: a raw TCP/TLS connection (the relay
// writes its frames, proto/relay_hello.hpp) or a WebSocket (binary messages; the end is a close
// frame). The relay forwards between any two, so a browser on a WebSocket meets a CLI on TCP.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "net/byte_stream.hpp"
#include "proto/relay_hello.hpp"

namespace ferry::server {

// A kernel pipe for splice(2): where one direction's bytes wait between the two sockets.
class SplicePipe {
 public:
  // Fails (nullopt) when the process is out of descriptors: the caller copies instead.
  static std::optional<SplicePipe> open(std::size_t capacity);
  SplicePipe(SplicePipe&& o) noexcept;
  SplicePipe& operator=(SplicePipe&&) = delete;
  SplicePipe(const SplicePipe&) = delete;
  SplicePipe& operator=(const SplicePipe&) = delete;
  ~SplicePipe();
  int read_end() const { return fds_[0]; }
  int write_end() const { return fds_[1]; }
  std::size_t capacity() const { return capacity_; }

 private:
  SplicePipe(int r, int w, std::size_t capacity) : fds_{r, w}, capacity_(capacity) {}
  int fds_[2];
  std::size_t capacity_;
};

class RelayLink {
 public:
  virtual ~RelayLink() = default;
  // Bytes the client sent; eof when it stopped sending.
  virtual net::awaitable<std::size_t> read_some(net::asio::mutable_buffer b,
                                                net::error_code& ec) = 0;
  virtual net::awaitable<void> send_status(proto::RelayStatus s, net::error_code& ec) = 0;
  // Bytes from the peer, after "paired".
  virtual net::awaitable<void> send_data(net::asio::const_buffer b, net::error_code& ec) = 0;
  // The peer stopped sending: pass that on.
  virtual net::awaitable<void> send_eof() = 0;
  // Says why the relay ends this session, then closes.
  virtual net::awaitable<void> end(proto::RelayStatus s, std::string_view text) = 0;
  virtual void expires_after(std::chrono::steady_clock::duration d) = 0;
  virtual void expires_never() = 0;
  virtual void close() = 0;
  // The TCP connection underneath (to notice, without reading, that a waiting client left).
  virtual net::beast::tcp_stream& tcp() = 0;
  // The TCP connection send_data writes to (the WebSocket's, or a download's own); none yet.
  virtual net::tcp::socket* data_socket() { return &tcp().socket(); }

  // Zero-copy forwarding between two plain TCP connections (no TLS, no WebSocket): the bytes go
  // socket -> kernel pipe -> socket by splice(2) and never enter this process.
  virtual bool spliceable() const { return false; }
  // Moves up to `most` bytes the client sent into the pipe; 0 with eof when it stopped sending.
  virtual net::awaitable<std::size_t> read_into(const SplicePipe& pipe, std::size_t most,
                                                net::error_code& ec);
  // Sends the n bytes waiting in the pipe to the client, as send_data would.
  virtual net::awaitable<void> send_from(const SplicePipe& pipe, std::size_t n,
                                         net::error_code& ec);
  // Keeps p alive as long as this link (the server's record of the connection under it).
  void hold(std::shared_ptr<void> p) { held_ = std::move(p); }

 private:
  std::shared_ptr<void> held_;
};

std::unique_ptr<RelayLink> raw_relay_link(net::AnyStream s);
// magic-wormhole's transit relay protocol: "ok\n" when paired, then raw bytes both ways.
std::unique_ptr<RelayLink> transit_relay_link(net::AnyStream s);
std::unique_ptr<RelayLink> websocket_relay_link(net::WebSocket ws);

// Browsers take a WebSocket's messages far more slowly than a streamed HTTP response (headless
// Chromium on loopback: ~100 vs 300-450 MB/s), so a browser's relay connection may be split: its
// statuses, its own bytes and the relay's reasons stay on the WebSocket /v1/relay?down=<ticket>,
// while the bytes *for* it leave as the body of GET /v1/relay/down/<ticket> (kRelayDownloadPath).
// The ticket is 128 random bits (32 hex digits) the browser chose; it names one WebSocket and is
// good for one GET.
class RelayDownloads {
 public:
  struct Slot;
  // How long the relay waits for the GET once it has bytes for the browser.
  static constexpr std::chrono::seconds kAttachTimeout{10};

  // Registers the ticket of a WebSocket being accepted; nullptr when malformed or taken.
  std::shared_ptr<Slot> open(std::string_view ticket, const net::asio::any_io_executor& ex);
  // Whether a WebSocket waits for this ticket's GET.
  bool waiting(std::string_view ticket) const;
  // Hands a GET's connection (its response header sent) to the ticket's WebSocket, with what to
  // keep alive as long as it (the server's record of the connection); false when none waits for
  // it any more.
  bool attach(std::string_view ticket, net::AnyStream stream, std::shared_ptr<void> held = {});

 private:
  using Map = std::map<std::string, std::weak_ptr<Slot>, std::less<>>;
  std::shared_ptr<Map> slots_ = std::make_shared<Map>();
};

std::unique_ptr<RelayLink> split_relay_link(net::WebSocket ws,
                                            std::shared_ptr<RelayDownloads::Slot> slot);

}  // namespace ferry::server
