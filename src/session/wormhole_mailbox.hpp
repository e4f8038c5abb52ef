// One side of a magic-wormhole conversation through its mailbox server: a nameplate allocated
// or claimed, the mailbox opened, SPAKE2 and the version check, then the application's messages
// in phase order under per-phase keys, and the mailbox closed with a mood.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "net/asio.hpp"
#include "net/websocket_client.hpp"
#include "proto/wormhole_crypto.hpp"
#include "proto/wormhole_message.hpp"

namespace ferry::session {

// The moods a wormhole client leaves its mailbox in (the server counts them).
inline constexpr std::string_view kMoodHappy = "happy";
inline constexpr std::string_view kMoodErrory = "errory";
inline constexpr std::string_view kMoodScary = "scary";

// Text from a wormhole peer or server, bounded and safe for a terminal.
std::string wormhole_shown(std::string_view text);
std::string random_hex(std::size_t bytes);

class WormholeMailbox {
 public:
  static net::awaitable<proto::Result<std::unique_ptr<WormholeMailbox>>> connect(
      const proto::MailboxUrl& url);

  // A fresh nameplate from the server (a sender choosing no code).
  net::awaitable<proto::Result<std::string>> allocate();
  // Claims the code's nameplate, opens its mailbox and sends our SPAKE2 message.
  net::awaitable<proto::Result<void>> join(const std::string& code);
  // Until the peer's version message opens under the shared key: a wrong code fails here
  // (wrong_code), and the mailbox is left "scary".
  net::awaitable<proto::Result<void>> confirm();
  // The peer's next application message, in the order it numbered them.
  net::awaitable<proto::Result<proto::WormholeAppMessage>> receive();
  net::awaitable<proto::Result<void>> send(std::string_view json);
  // Gives the nameplate back once both sides are in the mailbox.
  net::awaitable<void> release();
  // Leaves the mailbox, waiting a moment for the server to say so.
  net::awaitable<void> close(std::string_view mood);
  // Ends the conversation at once (a watchdog's way out of a wait).
  void abort() { ws_->close(); }

  const proto::WormholeKey& key() const { return key_; }

  explicit WormholeMailbox(std::unique_ptr<net::WebSocketClient> ws);

 private:
  // The next frame that matters (acks, welcome and our own echoes passed over).
  net::awaitable<proto::Result<proto::MailboxFrame>> next_frame();
  net::awaitable<proto::Result<void>> send_frame(const std::string& frame);
  net::awaitable<proto::Result<void>> send_sealed(const std::string& phase, std::string_view json);
  // Handles one message frame: SPAKE2, version, or a numbered phase (queued).
  net::awaitable<proto::Result<void>> on_message(const proto::MailboxFrame& frame);

  std::unique_ptr<net::WebSocketClient> ws_;
  std::string side_;
  std::string nameplate_;
  std::string mailbox_;
  std::string code_;
  std::optional<proto::Spake2Symmetric> spake_;
  proto::WormholeKey key_{};
  bool have_key_ = false;
  bool confirmed_ = false;
  bool closed_ = false;
  bool released_ = false;
  std::string peer_side_;
  std::uint64_t sent_phases_ = 0;
  std::uint64_t next_peer_phase_ = 0;
  std::map<std::uint64_t, proto::Bytes> pending_;  // peer phases that came early
  std::size_t frames_seen_ = 0;
};

}  // namespace ferry::session
