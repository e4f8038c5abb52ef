#include "session/connect.hpp"

#include "session/transfer.hpp"
#include "session/udp_paths.hpp"

namespace ferry::session {

using namespace net;
using namespace std::chrono_literals;
using proto::Errc;

namespace {

// Both sides' STUN answered (so UDP gets out) and at most one NAT maps each destination anew.
bool punch_plausible(const proto::Candidates& mine, const proto::Candidates& theirs) {
  using proto::UdpMapping;
  return mine.udp_mapping != UdpMapping::unknown && theirs.udp_mapping != UdpMapping::unknown &&
         !(mine.udp_mapping == UdpMapping::dependent &&
           theirs.udp_mapping == UdpMapping::dependent);
}

// Keeps reading the mailbox during the race: the peer may give up, or vanish.
awaitable<void> watch_mailbox(std::shared_ptr<Mailbox> mailbox, std::shared_ptr<PipeRace> race,
                              std::string peer, proto::CandidateScope scope) {
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
    auto more = std::get<proto::Candidates>(*note);  // found later: mapped ports
    for (auto& n : proto::restrict_to_scope(more.list, scope)) race->note(std::move(n));
    race->add_candidates(more);
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
    more.list.push_back({m.protocol, m.external_address, m.external_port, "mapped"});
  }
  const proto::MailboxNote note = more;
  co_await mailbox->send(note);  // too late (the race is over) is fine
}

}  // namespace

std::shared_ptr<UdpPaths> start_udp(const asio::any_io_executor& ex, const proto::ServerUrl& server,
                                    const RendezvousClient& rendezvous, proto::Side side,
                                    bool force_relay,
                                    std::chrono::steady_clock::duration connect_time) {
  if (force_relay) return nullptr;
  // STUN needs one round trip; reaching the rendezvous took two or three, so twice that is
  // ample. Where UDP is blocked this is what the wait costs; lost answers cost the public
  // address (peer-reflexive learning can still find the path), never more than 600 ms.
  const auto wait = std::clamp(
      std::chrono::duration_cast<std::chrono::milliseconds>(2 * connect_time) + 20ms, 40ms, 600ms);
  auto udp = std::make_shared<UdpPaths>(ex, side);
  udp->start_gather(server, rendezvous.stun_ports(), wait);
  return udp;
}

awaitable<proto::Result<ChosenPipe>> open_pipe(std::shared_ptr<Mailbox> mailbox,
                                               const SessionSecrets& secrets,
                                               const proto::ServerUrl& server, bool force_relay,
                                               bool no_tcp, const proto::CandidateScope& scope,
                                               std::shared_ptr<UdpPaths> udp) {
  const bool sender = secrets.side == proto::Side::sender;
  const std::string peer = sender ? "receiver" : "sender";
  auto race = std::make_shared<PipeRace>(co_await asio::this_coro::executor, secrets);
  auto mine =
      force_relay || no_tcp ? proto::Result<proto::Candidates>{} : race->listen(scope.my_observed);
  if (!mine) co_return std::unexpected(mine.error());
  mine->relay = !secrets.relay_grant.empty();  // a server run with --no-relay issues no grant
  if (udp && !force_relay) {
    co_await udp->add_candidates(*mine);
    for (const auto& n : udp->notes()) race->note(n);
  } else {
    udp = nullptr;
  }
  if (force_relay && !mine->relay) {
    const std::string why =
        "--force-relay, but the server " + server.to_string() + " runs no relay";
    const proto::MailboxNote abort =
        proto::PeerAbort{std::string(proto::errc_name(Errc::relay_refused)), why};
    co_await mailbox->send(abort);
    co_return proto::fail(Errc::relay_refused, why);
  }
  const proto::MailboxNote my_note = *mine;
  if (auto r = co_await mailbox->send(my_note); !r) co_return std::unexpected(r.error());
  auto note = co_await mailbox->receive();
  if (!note) co_return std::unexpected(note.error());
  if (const auto* abort = std::get_if<proto::PeerAbort>(&*note)) {
    co_return proto::fail(proto::errc_from_name(abort->code),
                          "the " + peer + " gave up: " + abort->message);
  }
  auto theirs = std::get<proto::Candidates>(*note);
  if (force_relay) theirs.list.clear();
  for (auto& n : proto::restrict_to_scope(theirs.list, scope)) race->note(std::move(n));
  if (no_tcp) std::erase_if(theirs.list, [](const auto& c) { return c.transport == "tcp"; });
  race->connect_to(theirs);
  if (udp) {
    race->use_udp(udp, theirs, sender ? Budgets::kSenderRace : Budgets::kReceiverRace);
  }
  if (!mine->relay) race->note("relay: the server " + server.to_string() + " runs no relay");
  if (theirs.relay && mine->relay) {
    // The sender waits at the relay at once; the receiver gives direct paths a head start, a
    // longer one while UDP hole punching can still open a path (it takes a few round trips, or
    // a few hundred random probes when one NAT maps each destination anew). Either way the
    // first byte flows within a second, and a path that opens later takes the transfer over.
    const bool direct_possible = !theirs.list.empty() || !mine->list.empty();
    const auto head_start = !direct_possible                 ? std::chrono::milliseconds(0)
                            : punch_plausible(*mine, theirs) ? Budgets::kRelayHeadStartPunching
                                                             : Budgets::kRelayHeadStart;
    race->use_relay(server, sender ? std::chrono::milliseconds(0) : head_start);
  }
  asio::co_spawn(co_await asio::this_coro::executor, watch_mailbox(mailbox, race, peer, scope),
                 asio::detached);
  if (!force_relay && (race->listen_port() != 0 || udp)) {
    asio::co_spawn(
        co_await asio::this_coro::executor,
        map_ports(mailbox, race, race->listen_port(), udp ? udp->local_port() : 0, mine->relay),
        asio::detached);
  }
  auto chosen = co_await race->wait(sender ? Budgets::kSenderRace : Budgets::kReceiverRace,
                                    Budgets::kUpgradeWindow);
  if (!chosen && chosen.error().code == Errc::no_path) {
    const proto::MailboxNote abort =
        proto::PeerAbort{std::string(proto::errc_name(Errc::no_path)),
                         "it could not reach you either. It tried:" +
                             chosen.error().detail.substr(chosen.error().detail.find(':') + 1)};
    co_await mailbox->send(abort);
  }
  co_return chosen;
}

}  // namespace ferry::session
