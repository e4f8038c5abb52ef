#include "session/connect.hpp"

#include "session/transfer.hpp"

namespace ferry::session {

using namespace net;
using proto::Errc;

namespace {

// Keeps reading the mailbox during the race: the peer may give up, or vanish.
awaitable<void> watch_mailbox(std::shared_ptr<Mailbox> mailbox, std::shared_ptr<PipeRace> race,
                              std::string peer) {
  for (;;) {
    auto note = co_await mailbox->receive();
    if (!note) co_return race->fail(note.error());
    if (const auto* abort = std::get_if<proto::PeerAbort>(&*note)) {
      co_return race->fail(
          {proto::errc_from_name(abort->code), "the " + peer + " gave up: " + abort->message});
    }
  }
}

}  // namespace

awaitable<proto::Result<ChosenPipe>> open_pipe(std::shared_ptr<Mailbox> mailbox,
                                               const SessionSecrets& secrets,
                                               const proto::ServerUrl& server, bool force_relay,
                                               const std::string& observed) {
  const bool sender = secrets.side == proto::Side::sender;
  const std::string peer = sender ? "receiver" : "sender";
  auto race = std::make_shared<PipeRace>(co_await asio::this_coro::executor, secrets);
  auto mine = force_relay ? proto::Result<proto::Candidates>{} : race->listen(observed);
  if (!mine) co_return std::unexpected(mine.error());
  mine->relay = !secrets.relay_grant.empty();  // a server run with --no-relay issues no grant
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
  race->connect_to(theirs);
  if (!mine->relay) race->note("relay: the server " + server.to_string() + " runs no relay");
  if (theirs.relay && mine->relay) {
    // The sender waits at the relay at once; the receiver gives direct paths a head start.
    const bool direct_possible = !theirs.list.empty() || !mine->list.empty();
    race->use_relay(server, sender || !direct_possible ? std::chrono::milliseconds(0)
                                                       : Budgets::kRelayHeadStart);
  }
  asio::co_spawn(co_await asio::this_coro::executor, watch_mailbox(mailbox, race, peer),
                 asio::detached);
  auto chosen = co_await race->wait(sender ? Budgets::kSenderRace : Budgets::kReceiverRace);
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
