#include "session/handshake.hpp"

#include <sodium.h>

namespace ferry::session {

std::string random_words() {
  std::uint8_t r[2];
  randombytes_buf(r, sizeof r);
  return proto::words_from_bytes(r[0], r[1]);
}

using namespace net;
using proto::Errc;

namespace {
constexpr std::string_view kChannelId = "ferry-v1";
constexpr std::string_view kSenderAd = "sender";
constexpr std::string_view kReceiverAd = "receiver";

// CPace's only randomness; proto/ takes it as an input.
proto::CpaceScalar random_scalar() {
  proto::CpaceScalar s{};
  crypto_core_ristretto255_scalar_random(s.data());
  return s;
}

// The grant, and the relay to present it at when the server named one (decode_server checked
// that it parses).
void remember_relay(SessionSecrets& s, const proto::rv::Paired& paired,
                    const RendezvousClient& rendezvous) {
  s.relay_grant = paired.relay_grant;
  if (!rendezvous.stun_ports().empty()) s.stun_port = rendezvous.stun_ports().front();
  if (!paired.relay.empty()) {
    if (auto url = proto::parse_server_url(paired.relay)) s.relay = std::move(*url);
    s.relay_udp_port = paired.relay_udp;  // the named relay's, when its cluster said
  } else {
    s.relay_udp_port = rendezvous.relay_udp();
  }
}

proto::Error wrong_code() {
  return {Errc::wrong_code, "the code did not match: a typo, or someone guessed; nothing was sent"};
}
}  // namespace

awaitable<proto::Result<SessionSecrets>> handshake_as_sender(RendezvousClient& rendezvous,
                                                             const proto::rv::Paired& paired,
                                                             const proto::Secret& words,
                                                             const proto::Secret& link) {
  auto out = co_await pake_as_sender(rendezvous, paired.session_id, words, link);
  if (out) remember_relay(*out, paired, rendezvous);
  co_return out;
}

awaitable<proto::Result<SessionSecrets>> handshake_as_receiver(RendezvousClient& rendezvous,
                                                               const proto::rv::Paired& paired,
                                                               const proto::Secret& secret) {
  auto out = co_await pake_as_receiver(rendezvous, paired.session_id, secret);
  if (out) remember_relay(*out, paired, rendezvous);
  co_return out;
}

awaitable<proto::Result<SessionSecrets>> pake_as_sender(MessageChannel& rendezvous,
                                                        proto::ByteView session_id,
                                                        const proto::Secret& words,
                                                        const proto::Secret& link) {
  auto first = co_await rendezvous.receive();
  if (!first) co_return std::unexpected(first.error());
  auto theirs = proto::decode_receiver_pake(*first);
  if (!theirs && theirs.error().code == Errc::version && !proto::is_version_notice(*first)) {
    // Another ferry: tell it which version this one speaks, so its person is told too.
    const proto::Bytes notice = proto::encode_version_notice();
    co_await rendezvous.send(notice);
  }
  if (!theirs) co_return std::unexpected(theirs.error());
  const proto::Secret& secret = theirs->kind == proto::SecretKind::link ? link : words;
  auto cpace = proto::Cpace::start(proto::Cpace::Role::initiator, secret.password(),
                                   proto::as_bytes(kChannelId), session_id,
                                   proto::as_bytes(kSenderAd), random_scalar());
  if (!cpace) co_return std::unexpected(cpace.error());
  auto isk = cpace->finish(theirs->share, proto::as_bytes(kReceiverAd));
  if (!isk) co_return std::unexpected(isk.error());
  SessionSecrets out{proto::Side::sender, proto::derive_session_keys(*isk), {}, {}};
  const auto transcript = proto::confirmation_transcript(session_id, cpace->share(), theirs->share);
  const auto mine = proto::SenderPake{cpace->share(),
                                      proto::confirmation_tag(out.keys.confirm_sender, transcript)};
  const proto::Bytes mine_bytes = proto::encode(mine);
  auto sent = co_await rendezvous.send(mine_bytes);
  if (!sent) co_return std::unexpected(sent.error());
  auto reply = co_await rendezvous.receive();
  if (!reply) co_return std::unexpected(reply.error());
  auto confirm = proto::decode_confirm(*reply);
  if (!confirm) co_return std::unexpected(confirm.error());
  if (!proto::equal_ct(*confirm, proto::confirmation_tag(out.keys.confirm_receiver, transcript))) {
    co_return std::unexpected(wrong_code());
  }
  co_return out;
}

awaitable<proto::Result<SessionSecrets>> pake_as_receiver(MessageChannel& rendezvous,
                                                          proto::ByteView session_id,
                                                          const proto::Secret& secret) {
  auto cpace = proto::Cpace::start(proto::Cpace::Role::responder, secret.password(),
                                   proto::as_bytes(kChannelId), session_id,
                                   proto::as_bytes(kReceiverAd), random_scalar());
  if (!cpace) co_return std::unexpected(cpace.error());
  const proto::Bytes share = proto::encode(proto::ReceiverPake{secret.kind, cpace->share()});
  auto sent = co_await rendezvous.send(share);
  if (!sent) co_return std::unexpected(sent.error());
  auto reply = co_await rendezvous.receive();
  if (!reply) co_return std::unexpected(reply.error());
  auto theirs = proto::decode_sender_pake(*reply);
  if (!theirs) co_return std::unexpected(theirs.error());
  auto isk = cpace->finish(theirs->share, proto::as_bytes(kSenderAd));
  if (!isk) co_return std::unexpected(isk.error());
  SessionSecrets out{proto::Side::receiver, proto::derive_session_keys(*isk), {}, {}};
  const auto transcript = proto::confirmation_transcript(session_id, theirs->share, cpace->share());
  // Confirm even when the sender's tag is wrong, so the sender learns of the mismatch too.
  const auto tag = proto::confirmation_tag(out.keys.confirm_receiver, transcript);
  const proto::Bytes tag_bytes(tag.begin(), tag.end());
  sent = co_await rendezvous.send(tag_bytes);
  if (!sent) co_return std::unexpected(sent.error());
  if (!proto::equal_ct(theirs->confirm,
                       proto::confirmation_tag(out.keys.confirm_sender, transcript))) {
    co_return std::unexpected(wrong_code());
  }
  co_return out;
}

Mailbox::Mailbox(std::shared_ptr<RendezvousClient> rendezvous, const SessionSecrets& secrets)
    : rendezvous_(std::move(rendezvous)),
      sealer_(secrets.side == proto::Side::sender ? secrets.keys.mailbox_sender
                                                  : secrets.keys.mailbox_receiver),
      opener_(secrets.side == proto::Side::sender ? secrets.keys.mailbox_receiver
                                                  : secrets.keys.mailbox_sender) {}

awaitable<proto::Result<void>> Mailbox::send(const proto::MailboxNote& note) {
  // One message at a time (later mapped ports and a WebRTC answer may meet), sealed in the
  // order they go out.
  while (sending_) {
    asio::steady_timer turn(co_await asio::this_coro::executor,
                            asio::steady_timer::time_point::max());
    waiting_.push_back(&turn);
    error_code ec;
    co_await turn.async_wait(redirect(ec));
    std::erase(waiting_, &turn);
  }
  sending_ = true;
  const std::string text = proto::encode_note(note);
  const proto::Bytes sealed = sealer_.seal(proto::as_bytes(text));
  auto sent = co_await rendezvous_->send(sealed);
  sending_ = false;
  if (!waiting_.empty()) waiting_.front()->cancel();
  co_return sent;
}

awaitable<proto::Result<proto::MailboxNote>> Mailbox::receive() {
  auto body = co_await rendezvous_->receive();
  if (!body) co_return std::unexpected(body.error());
  auto plain = opener_.open(*body);
  if (!plain) co_return std::unexpected(plain.error());
  co_return proto::decode_note(
      std::string_view(reinterpret_cast<const char*>(plain->data()), plain->size()));
}

}  // namespace ferry::session
