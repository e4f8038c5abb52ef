#include "session/connect.hpp"

#include "net/tcp.hpp"
#include "session/transfer.hpp"
#include "session/udp_paths.hpp"

namespace ferry::session {

using namespace net;
using namespace std::chrono_literals;
using proto::Errc;

namespace {

// How long to wait for this side's public address from STUN. It needs one round trip; reaching
// the rendezvous took two or three, so twice that is ample. Where UDP is blocked this is what the
// wait costs; lost answers cost the public address (peer-reflexive learning can still find the
// path), never more than 600 ms.
std::chrono::milliseconds stun_wait(std::chrono::steady_clock::duration connect_time) {
  return std::clamp(std::chrono::duration_cast<std::chrono::milliseconds>(2 * connect_time) + 20ms,
                    40ms, 600ms);
}

// Keeps reading the mailbox during the race: the peer may give up, or vanish, or send the
// candidates its router mapped late.
awaitable<void> watch_mailbox(std::shared_ptr<Mailbox> mailbox, std::shared_ptr<PipeRace> race,
                              std::string peer, proto::PlanInput plan) {
  for (;;) {
    auto note = co_await mailbox->receive();
    if (!note) {
      // The server or the peer's link to it went away. A pipe may be about to win (its "select"
      // already on the way): give it a moment before ending the race.
      asio::steady_timer grace(co_await asio::this_coro::executor, Budgets::kMailboxLossGrace);
      error_code ec;
      co_await grace.async_wait(redirect(ec));
      co_return race->fail(note.error());
    }
    if (const auto* abort = std::get_if<proto::PeerAbort>(&*note)) {
      co_return race->fail(
          {proto::errc_from_name(abort->code), "the " + peer + " gave up: " + abort->message});
    }
    if (const auto* signal = std::get_if<proto::WebRtcSignal>(&*note)) {
      race->add_webrtc(signal->sdp);  // the page's offer
      continue;
    }
    auto more = std::get<proto::Candidates>(*note);  // found later: mapped ports
    race->add_later(proto::plan_later(plan, std::move(more.list)));
  }
}

// Asks the router for public ports (UPnP-IGD, NAT-PMP) while the race runs, and tells the peer
// what it granted; the mappings live as long as the race.
awaitable<void> map_ports(std::shared_ptr<Mailbox> mailbox, std::shared_ptr<PipeRace> race,
                          std::uint16_t tcp_port, std::uint16_t udp_port, bool relay) {
  auto mapper = std::make_shared<PortMapper>(co_await asio::this_coro::executor);
  race->keep(mapper);
  const auto mapped = co_await mapper->map(tcp_port, udp_port, Budgets::kPortMapping);
  for (const auto& n : mapper->notes()) race->note("port mapping: " + n);
  if (mapped.empty()) co_return;
  proto::Candidates more;
  more.relay = relay;
  for (const auto& m : mapped) {
    more.list.push_back(
        {m.transport, m.external_address, m.external_port, proto::CandidateKind::mapped});
  }
  const proto::MailboxNote note = more;
  co_await mailbox->send(note);  // too late (the race is over) is fine
}

// (A coroutine of its own: its parameters live in its frame, not in a lambda's captures.)
awaitable<void> send_answer(std::shared_ptr<Mailbox> mailbox, std::string sdp) {
  const proto::MailboxNote answer = proto::WebRtcSignal{std::move(sdp)};
  co_await mailbox->send(answer);  // a lost mailbox ends the race anyway
}

// A page that offers a WebRTC data channel (its note says so; ours named webrtc), where UDP is
// allowed. Two CLIs never do: neither offers.
std::optional<WebRtcSetup> webrtc_setup(const proto::Candidates& theirs,
                                        const proto::PathPolicy& policy,
                                        const proto::CandidateScope& scope,
                                        const std::shared_ptr<Mailbox>& mailbox,
                                        std::chrono::steady_clock::duration connect_time) {
  if (!theirs.webrtc_offer || policy.relay_only || !policy.udp) return std::nullopt;
  return WebRtcSetup{
      .scope = scope,
      .send_answer = [mailbox](std::string sdp) { return send_answer(mailbox, std::move(sdp)); },
      .gather = stun_wait(connect_time)};
}

}  // namespace

proto::PathPolicy path_policy(bool force_relay, bool no_tcp, bool no_udp, bool no_relay_tcp,
                              bool no_relay_udp) {
  return {.relay_only = force_relay,
          .tcp = !no_tcp,
          .udp = !no_udp,
          .relay_tcp = !no_relay_tcp,
          .relay_udp = !no_relay_udp};
}

std::shared_ptr<UdpPaths> start_udp(const asio::any_io_executor& ex, const proto::ServerUrl& server,
                                    const RendezvousClient& rendezvous, proto::Side side,
                                    const proto::PathPolicy& policy,
                                    std::chrono::steady_clock::duration connect_time) {
  if (policy.relay_only || !policy.udp) return nullptr;
  auto udp = std::make_shared<UdpPaths>(ex, side);
  udp->start_gather(server, rendezvous.stun_ports(), stun_wait(connect_time));
  return udp;
}

awaitable<proto::Result<ChosenPipe>> open_pipe(
    std::shared_ptr<Mailbox> mailbox, const SessionSecrets& secrets, const proto::ServerUrl& server,
    const proto::PathPolicy& policy, const proto::CandidateScope& scope,
    std::shared_ptr<UdpPaths> udp, std::chrono::steady_clock::duration connect_time) {
  const bool sender = secrets.side == proto::Side::sender;
  const std::string peer = sender ? "receiver" : "sender";
  auto race = std::make_shared<PipeRace>(co_await asio::this_coro::executor, secrets,
                                         Budgets::kUpgradeWindow, policy.tcp_mss);
  auto mine = policy.relay_only || !policy.tcp ? proto::Result<proto::Candidates>{}
                                               : race->listen(scope.my_observed);
  if (!mine) co_return std::unexpected(mine.error());
  mine->relay = !secrets.relay_grant.empty();  // a server run with --no-relay issues no grant
  mine->features = proto::our_features();
  // The sender's TCP carries the bytes: say when it cannot have BBR.
  if (sender) {
    const std::string cc = bulk_congestion_control(co_await asio::this_coro::executor);
    mine->tcp_loss_based = !cc.empty() && !cc.starts_with("bbr");
  }
  std::shared_ptr<QuicIdentity> identity;
  if (udp && !policy.relay_only) {
    co_await udp->add_candidates(*mine);
    for (const auto& n : udp->notes()) race->note(n);
    identity = udp->identity();
  } else {
    udp = nullptr;
  }
  // The relay over UDP runs QUIC too: the sender's certificate, even where nothing is punched.
  const bool relay_udp =
      mine->relay && policy.udp && policy.relay_udp && secrets.relay_udp_port != 0;
  if (sender && relay_udp && !identity) {
    if (auto made = QuicIdentity::generate()) {
      identity = *made;
    } else {
      race->note(std::string("relay over QUIC/UDP: ") + made.error().detail);
    }
  }
  if (sender && identity && mine->quic_fingerprint.empty()) {
    mine->quic_fingerprint = identity->fingerprint();
  }
  if (policy.relay_only && !mine->relay) {
    const std::string why =
        "--force-relay, but the server " + server.to_string() + " runs no relay";
    const proto::MailboxNote abort =
        proto::PeerAbort{std::string(proto::errc_name(Errc::relay_refused)), why};
    co_await mailbox->send(abort);
    co_return proto::fail(Errc::relay_refused, why);
  }
  const proto::MailboxNote my_note = *mine;
  // Until the race starts, connections it accepted wait for the notes: a failure here ends them.
  if (auto r = co_await mailbox->send(my_note); !r) {
    race->stop();
    co_return std::unexpected(r.error());
  }
  auto note = co_await mailbox->receive();
  if (!note) {
    race->stop();
    co_return std::unexpected(note.error());
  }
  if (const auto* abort = std::get_if<proto::PeerAbort>(&*note)) {
    race->stop();
    co_return proto::fail(proto::errc_from_name(abort->code),
                          "the " + peer + " gave up: " + abort->message);
  }
  if (!std::holds_alternative<proto::Candidates>(*note)) {
    race->stop();
    co_return proto::fail(Errc::protocol, "the " + peer + " sent no candidates note");
  }
  const proto::PlanInput input{
      .side = secrets.side,
      .mine = *mine,
      .theirs = std::get<proto::Candidates>(*note),
      .scope = scope,
      .policy = policy,
      .listening = race->listen_port() != 0,
      .udp_socket = udp != nullptr && udp->local_port() != 0,
      .connect_time = std::chrono::duration_cast<std::chrono::milliseconds>(connect_time)};
  const auto plan = proto::plan_paths(input);
  const proto::Features agreed = proto::common(mine->features, input.theirs.features);
  if (!mine->relay) race->note("relay: the server " + server.to_string() + " runs no relay");
  std::optional<RelayUdpTarget> relay_udp_target;
  if (relay_udp && agreed.relay_udp && input.theirs.relay) {
    RelayUdpTarget t{secrets.relay.value_or(server),
                     secrets.relay_udp_port,
                     secrets.side,
                     secrets.relay_grant,
                     sender ? identity : nullptr,
                     sender ? proto::Bytes{} : input.theirs.quic_fingerprint};
    if (sender ? t.identity != nullptr : !t.pinned.empty()) relay_udp_target = std::move(t);
  }
  race->start(plan, server, plan.udp ? udp : nullptr,
              {.cipher = agreed.aes256gcm ? proto::RecordCipher::aes256gcm
                                          : proto::RecordCipher::xchacha20poly1305,
               .transport_trial = agreed.pipe_trial,
               .relay_udp = std::move(relay_udp_target),
               .tagged_select = agreed.relay_udp,
               .prefer_quic = !sender && input.theirs.tcp_loss_based,
               .wide_tcp = agreed.wide_tcp,
               .tcp_connections = policy.tcp_connections,
               .webrtc = webrtc_setup(input.theirs, policy, scope, mailbox, connect_time)});
  asio::co_spawn(co_await asio::this_coro::executor, watch_mailbox(mailbox, race, peer, input),
                 asio::detached);
  if (!policy.relay_only && (race->listen_port() != 0 || udp)) {
    asio::co_spawn(
        co_await asio::this_coro::executor,
        map_ports(mailbox, race, race->listen_port(), udp ? udp->local_port() : 0, mine->relay),
        asio::detached);
  }
  auto chosen = co_await race->wait();
  if (chosen) chosen->features = agreed;
  if (!chosen && chosen.error().code == Errc::no_path) {
    const proto::MailboxNote abort = proto::PeerAbort{
        std::string(proto::errc_name(Errc::no_path)),
        proto::format_tried("it could not reach you either. It tried:", race->tried())};
    co_await mailbox->send(abort);
  }
  co_return chosen;
}

}  // namespace ferry::session
