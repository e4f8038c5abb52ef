// Watching a TCP connection's sending while a write waits, so that a path that will not carry
// full-sized packets (a PMTU black hole) does not stall the connection for good: what to do is
// proto::SendStall's; this looks (TCP_INFO) and acts (IPv4: routers may fragment our packets;
// IPv6: given up after a few timeouts, so that the next connection asks for narrow segments).
// A look checks that the descriptor is still the socket watched, so a socket closed under the
// watch (a stream's timeout) is left alone.
#pragma once

#include <memory>
#include <string>

#include "net/asio.hpp"
#include "proto/error.hpp"
#include "proto/send_stall.hpp"

namespace ferry::net {

class SendWatch {
 public:
  // How often a waiting write looks.
  static constexpr std::chrono::milliseconds kLook{200};

  SendWatch() = default;  // watches nothing
  explicit SendWatch(tcp::socket& s);
  SendWatch(SendWatch&&) noexcept = default;
  SendWatch& operator=(SendWatch&& other) noexcept {
    if (this != &other) {
      stop();
      state_ = std::move(other.state_);
    }
    return *this;
  }
  SendWatch(const SendWatch&) = delete;
  SendWatch& operator=(const SendWatch&) = delete;
  ~SendWatch() { stop(); }
  // The descriptor watched (-1: none).
  int fd() const;

  // While the returned guard lives (a write under way), and after it while the kernel holds bytes
  // not yet acknowledged, the connection is looked at every kLook.
  class Writing {
   public:
    explicit Writing(std::shared_ptr<struct SendWatchState> s);
    Writing(const Writing&) = delete;
    Writing& operator=(const Writing&) = delete;
    ~Writing();

   private:
    std::shared_ptr<struct SendWatchState> state_;
  };
  [[nodiscard]] Writing writing();
  // The socket is about to close: no look touches its descriptor from now on.
  void stop() noexcept;
  // Whether the watch gave the connection up (proto::SendStall::kGiveUp): it shut the socket
  // down, so what waits on it fails; given_up_error says why (Error::black_hole when the
  // connection's full-sized packets vanished where routers may not fragment them).
  bool given_up() const;
  proto::Error given_up_error(const std::string& where) const;

 private:
  std::shared_ptr<struct SendWatchState> state_;
};

// Lets routers fragment a TCP connection's IPv4 packets (clears "don't fragment"); false where
// the connection is not IPv4 or the kernel refused.
bool allow_fragments(int fd);

}  // namespace ferry::net
