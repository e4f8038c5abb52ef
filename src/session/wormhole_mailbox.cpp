#include "session/wormhole_mailbox.hpp"

#include <charconv>

#include <sodium.h>
#include <nlohmann/json.hpp>

#include "net/tcp.hpp"
#include "proto/names.hpp"
#include "session/transfer.hpp"

namespace ferry::session {

using namespace net;
using proto::Errc;

namespace {
// A peer may not keep us reading its messages for ever.
constexpr std::size_t kMaxPeerFrames = 256;
}  // namespace

std::string wormhole_shown(std::string_view text) {
  return proto::terminal_text(text.substr(0, 300));
}

std::string random_hex(std::size_t bytes) {
  proto::Bytes b(bytes);
  randombytes_buf(b.data(), b.size());
  return proto::to_hex(b);
}

WormholeMailbox::WormholeMailbox(std::unique_ptr<WebSocketClient> ws)
    : ws_(std::move(ws)), side_(random_hex(5)) {}

awaitable<proto::Result<std::unique_ptr<WormholeMailbox>>> WormholeMailbox::connect(
    const proto::MailboxUrl& url) {
  auto ws = co_await WebSocketClient::connect(url.server, url.target, Budgets::kServerConnect);
  if (!ws)
    co_return proto::fail(Errc::server_unreachable, "cannot reach the wormhole mailbox server " +
                                                        wormhole_shown(url.server.host) + ":" +
                                                        std::to_string(url.server.port) + ": " +
                                                        ws.error().detail);
  auto mb = std::make_unique<WormholeMailbox>(std::move(*ws));
  const std::string bind = proto::mailbox_bind(proto::kWormholeAppId, mb->side_);
  if (auto r = co_await mb->send_frame(bind); !r) co_return std::unexpected(r.error());
  co_return mb;
}

awaitable<proto::Result<void>> WormholeMailbox::send_frame(const std::string& frame) {
  co_return co_await ws_->send(frame);
}

awaitable<proto::Result<proto::MailboxFrame>> WormholeMailbox::next_frame() {
  for (;;) {
    auto text = co_await ws_->receive();
    if (!text) co_return std::unexpected(text.error());
    auto frame = proto::parse_mailbox_frame(*text);
    if (!frame) co_return std::unexpected(frame.error());
    switch (frame->event) {
      case proto::MailboxEvent::error:
        co_return proto::fail(Errc::server_error,
                              "the wormhole mailbox server said: " + wormhole_shown(frame->error));
      case proto::MailboxEvent::welcome:
        if (!frame->error.empty())
          co_return proto::fail(Errc::server_error, "the wormhole mailbox server refused us: " +
                                                        wormhole_shown(frame->error));
        continue;
      case proto::MailboxEvent::ack:
      case proto::MailboxEvent::other:
        continue;
      case proto::MailboxEvent::message:
        if (frame->side == side_) continue;
        if (++frames_seen_ > kMaxPeerFrames)
          co_return proto::fail(Errc::protocol, "the wormhole peer sent too many messages");
        co_return frame;
      default:
        co_return frame;
    }
  }
}

awaitable<proto::Result<std::string>> WormholeMailbox::allocate() {
  const std::string frame = proto::mailbox_allocate();
  if (auto r = co_await send_frame(frame); !r) co_return std::unexpected(r.error());
  for (;;) {
    auto f = co_await next_frame();
    if (!f) co_return std::unexpected(f.error());
    if (f->event != proto::MailboxEvent::allocated) continue;
    if (!proto::wormhole_nameplate(f->nameplate + "-x"))
      co_return proto::fail(Errc::server_error, "the wormhole mailbox server allocated \"" +
                                                    wormhole_shown(f->nameplate) +
                                                    "\", which is not a nameplate");
    co_return f->nameplate;
  }
}

awaitable<proto::Result<void>> WormholeMailbox::join(const std::string& code) {
  const auto nameplate = proto::wormhole_nameplate(code);
  if (!nameplate)
    co_return proto::fail(Errc::usage, "\"" + proto::display_name(code) +
                                           "\" is not a wormhole code (it looks like "
                                           "7-guitarist-revenge)");
  nameplate_ = *nameplate;
  code_ = code;
  const std::string claim = proto::mailbox_claim(nameplate_);
  if (auto r = co_await send_frame(claim); !r) co_return r;
  while (mailbox_.empty()) {
    auto f = co_await next_frame();
    if (!f) co_return std::unexpected(f.error());
    if (f->event == proto::MailboxEvent::claimed) mailbox_ = f->mailbox;
  }
  const std::string open = proto::mailbox_open(mailbox_);
  if (auto r = co_await send_frame(open); !r) co_return r;
  proto::Ed25519Scalar scalar{};
  crypto_core_ed25519_scalar_random(scalar.data());
  auto spake = proto::Spake2Symmetric::start(proto::as_bytes(code_),
                                             proto::as_bytes(proto::kWormholeAppId), scalar);
  if (!spake) co_return std::unexpected(spake.error());
  spake_ = std::move(*spake);
  const nlohmann::json pake = {{"pake_v1", proto::to_hex(spake_->message())}};
  const std::string frame = proto::mailbox_add("pake", proto::as_bytes(pake.dump()));
  co_return co_await send_frame(frame);
}

awaitable<proto::Result<void>> WormholeMailbox::send_sealed(const std::string& phase,
                                                            std::string_view json) {
  proto::SecretboxNonce nonce{};
  randombytes_buf(nonce.data(), nonce.size());
  const proto::Bytes sealed = proto::wormhole_seal(proto::wormhole_phase_key(key_, side_, phase),
                                                   proto::as_bytes(json), nonce);
  const std::string frame = proto::mailbox_add(phase, sealed);
  co_return co_await send_frame(frame);
}

awaitable<proto::Result<void>> WormholeMailbox::on_message(const proto::MailboxFrame& frame) {
  if (!peer_side_.empty() && frame.side != peer_side_)
    co_return proto::fail(Errc::protocol, "a third party wrote into the wormhole mailbox");
  // A phase seen before is passed over, as wormhole's clients do: one that reconnects to its
  // mailbox sends again what the server had not echoed back to it yet.
  if (frame.phase == "pake") {
    if (have_key_) co_return proto::Result<void>{};
    const auto j = nlohmann::json::parse(frame.body.begin(), frame.body.end(), nullptr, false);
    const auto* hex = j.is_object() && j.contains("pake_v1")
                          ? j["pake_v1"].get_ptr<const std::string*>()
                          : nullptr;
    const auto message = hex != nullptr ? proto::from_hex(*hex) : std::nullopt;
    if (!message)
      co_return proto::fail(Errc::protocol, "the wormhole peer's SPAKE2 message is malformed");
    auto key = spake_->finish(*message);
    if (!key) co_return std::unexpected(key.error());
    key_ = *key;
    have_key_ = true;
    peer_side_ = frame.side;
    const std::string phase = "version";
    const std::string version = proto::wormhole_version_message();
    co_return co_await send_sealed(phase, version);
  }
  if (!have_key_) co_return proto::fail(Errc::protocol, "the wormhole peer wrote before SPAKE2");
  if (frame.phase == "version") {
    if (confirmed_) co_return proto::Result<void>{};
    if (!proto::wormhole_open(proto::wormhole_phase_key(key_, frame.side, "version"), frame.body)) {
      // As wormhole's own clients do: the nameplate and the mailbox are given back at once.
      co_await release();
      co_await close(kMoodScary);
      co_return proto::fail(Errc::wrong_code,
                            "the code did not match (or was mistyped on the other side): the "
                            "peer's first message does not open under it");
    }
    confirmed_ = true;
    co_return proto::Result<void>{};
  }
  std::uint64_t number = 0;
  const char* end = frame.phase.data() + frame.phase.size();
  const auto parsed = std::from_chars(frame.phase.data(), end, number);
  if (parsed.ec != std::errc() || parsed.ptr != end)
    co_return proto::Result<void>{};  // phases this client does not use (dilation), as wormhole
                                      // does
  if (!confirmed_)
    co_return proto::fail(Errc::protocol, "the wormhole peer wrote before confirming the key");
  if (number < next_peer_phase_ || pending_.contains(number)) co_return proto::Result<void>{};
  auto plain =
      proto::wormhole_open(proto::wormhole_phase_key(key_, frame.side, frame.phase), frame.body);
  if (!plain) co_return proto::fail(Errc::protocol, "a wormhole message did not open");
  pending_.emplace(number, std::move(*plain));
  co_return proto::Result<void>{};
}

awaitable<proto::Result<void>> WormholeMailbox::confirm() {
  while (!confirmed_) {
    auto f = co_await next_frame();
    if (!f) co_return std::unexpected(f.error());
    if (f->event != proto::MailboxEvent::message) continue;
    if (auto r = co_await on_message(*f); !r) co_return r;
  }
  co_return proto::Result<void>{};
}

awaitable<proto::Result<proto::WormholeAppMessage>> WormholeMailbox::receive() {
  while (!pending_.contains(next_peer_phase_)) {
    auto f = co_await next_frame();
    if (!f) co_return std::unexpected(f.error());
    if (f->event != proto::MailboxEvent::message) continue;
    if (auto r = co_await on_message(*f); !r) co_return std::unexpected(r.error());
  }
  const proto::Bytes body = std::move(pending_[next_peer_phase_]);
  pending_.erase(next_peer_phase_++);
  auto m = proto::parse_wormhole_app_message(body);
  if (m && m->error)
    co_return proto::fail(Errc::declined,
                          "the wormhole peer gave up: " + wormhole_shown(*m->error));
  co_return m;
}

awaitable<proto::Result<void>> WormholeMailbox::send(std::string_view json) {
  if (!confirmed_) co_return proto::fail(Errc::internal, "sending before the key is confirmed");
  const std::string phase = std::to_string(sent_phases_++);
  co_return co_await send_sealed(phase, json);
}

awaitable<void> WormholeMailbox::release() {
  if (released_ || nameplate_.empty()) co_return;
  released_ = true;
  const std::string frame = proto::mailbox_release(nameplate_);
  co_await send_frame(frame);
}

awaitable<void> WormholeMailbox::close(std::string_view mood) {
  if (closed_) co_return;
  closed_ = true;
  if (mailbox_.empty()) {
    ws_->close();
    co_return;
  }
  const std::string frame = proto::mailbox_close(mailbox_, mood);
  if (co_await send_frame(frame)) {
    auto ex = co_await asio::this_coro::executor;
    asio::steady_timer guard(ex, std::chrono::seconds(1));
    guard.async_wait([this](const error_code& ec) {
      if (!ec) ws_->close();
    });
    for (;;) {
      auto text = co_await ws_->receive();
      if (!text) break;
      auto f = proto::parse_mailbox_frame(*text);
      if (!f || f->event == proto::MailboxEvent::closed) break;
    }
    guard.cancel();
  }
  ws_->close();
}

}  // namespace ferry::session
