// The receiving side of a transfer.
#include <set>

#include "proto/names.hpp"
#include "proto/transfer_state.hpp"
#include "session/connect.hpp"
#include "session/file_sink.hpp"
#include "session/progress_clock.hpp"
#include "session/transfer.hpp"
#include "session/udp_paths.hpp"

namespace ferry::session {

using namespace net;
using proto::Errc;
namespace msg = proto::msg;

namespace {

// Hashed and written between two yields.
constexpr std::size_t kSliceBytes = std::size_t{256} * 1024;
// How long our last words (a confirmation, a decline, an abort) may wait for the sender to have
// them and close: a few round trips of a long, lossy path.
constexpr auto kCloseGrace = std::chrono::milliseconds(2000);

// The person's answer to the offer, delivered from whatever thread asked them.
awaitable<Answer> ask(Observer& observer, const proto::Offer& offer,
                      const std::vector<std::string>& existing) {
  struct Pending {
    explicit Pending(const asio::any_io_executor& ex)
        : timer(ex, asio::steady_timer::time_point::max()) {}
    asio::steady_timer timer;
    Answer answer = Answer::decline;
  };
  auto ex = co_await asio::this_coro::executor;
  auto pending = std::make_shared<Pending>(ex);
  observer.ask_accept(offer, existing, [ex, pending](Answer a) {
    asio::post(ex, [pending, a] {
      pending->answer = a;
      pending->timer.cancel();
    });
  });
  error_code ec;
  co_await pending->timer.async_wait(redirect(ec));
  co_return pending->answer;
}

proto::Result<void> you_declined() {
  return proto::fail(Errc::declined, "you declined the offer; nothing was written");
}

// Shows the offer with no names listed and asks (unless --yes); true when the person said no.
awaitable<bool> person_declines(Observer& observer, const proto::Offer& offer,
                                const ReceiveOptions& options) {
  if (options.yes) co_return false;
  const std::vector<std::string> none;  // named: see asio.hpp on temporaries in co_await
  co_return co_await ask(observer, offer, none) == Answer::decline;
}

// Only "declined" goes back, whatever the reason here: which names exist, what is in the way and
// how much room there is are none of the sender's business.
awaitable<void> decline(RecordPipe& pipe) {
  const proto::PipeMessage message = msg::Decline{std::string(proto::errc_name(Errc::declined))};
  co_await pipe.send_last(message, kCloseGrace);
}

awaitable<proto::Result<proto::Offer>> receive_offer(RecordPipe& pipe) {
  std::string json;
  for (;;) {
    auto m = co_await pipe.receive_message();
    if (!m) co_return std::unexpected(m.error());
    const auto* part = std::get_if<msg::OfferPart>(&*m);
    if (part == nullptr)
      co_return proto::fail(Errc::protocol, "the sender did not start with an offer");
    json.append(reinterpret_cast<const char*>(part->json.data()), part->json.size());
    if (json.size() > proto::kMaxOfferBytes)
      co_return proto::fail(Errc::bad_offer, "the offer is too large");
    if (part->last) break;
  }
  co_return proto::decode_offer(json);
}

// Where the sender's records come from: "moved" switches to the next pipe this side selected
// after the relay (or a pipe of the other transport) won, which the race holds; with the trial
// (Features::pipe_trial) the pipe left for one of the same path kind stays open, and a later
// "moved" may come back to it. A sender that names relay-udp says which pipe (Moved::to): several
// may be waiting, and the two sides may have taken them in different orders.
struct Carrier {
  ChosenPipe here;
  std::shared_ptr<PipeRace> race;  // while it may hold pipes to move to
  std::optional<ChosenPipe> parked;
  bool trial = false;
  std::vector<ChosenPipe> offered;  // taken from the race, not moved to (yet)

  ~Carrier() {
    if (parked) parked->pipe->close();
    for (auto& c : offered) c.pipe->close();
  }

  std::optional<ChosenPipe> next_pipe(const msg::Moved& moved) {
    if (!moved.to) {
      // An older sender: the race's pipe on the first move, the one kept for the trial after.
      std::optional<ChosenPipe> next = race ? race->take_upgrade() : std::nullopt;
      race = nullptr;
      return next ? next : std::exchange(parked, std::nullopt);
    }
    if (race) {
      while (auto up = race->take_upgrade()) offered.push_back(std::move(*up));
      if (!race->upgrading()) race = nullptr;
    }
    const auto named = [&](const ChosenPipe& c) {
      return msg::pipe_tag(c.pipe->received_header()) == *moved.to;
    };
    if (parked && named(*parked)) return std::exchange(parked, std::nullopt);
    const auto it = std::find_if(offered.begin(), offered.end(), named);
    if (it == offered.end()) return std::nullopt;
    ChosenPipe next = std::move(*it);
    offered.erase(it);
    return next;
  }

  // After "moved": the next pipe, or an error when there is none.
  proto::Result<void> move(const msg::Moved& moved, Observer& observer,
                           Cancellation* cancellation) {
    std::optional<ChosenPipe> next = next_pipe(moved);
    if (!next)
      return proto::fail(Errc::protocol, "the sender moved to a path this side never chose");
    ChosenPipe old = std::exchange(here, std::move(*next));
    old.race = nullptr;
    here.race = nullptr;
    if (trial && old.path == here.path) {
      if (parked) parked->pipe->close();
      parked = std::move(old);
    } else {
      // Off the relay for good: what it carried was read up to "moved".
      old.pipe->close();
      if (parked) std::exchange(parked, std::nullopt)->pipe->close();
    }
    attach(cancellation, here.pipe);
    observer.on_event(connected_event(here, true));
    return {};
  }
};

// Receives chunks into the sink until the sender's final record.
awaitable<proto::Result<void>> receive_files(Carrier& carrier, const proto::Offer& offer,
                                             FileSink& sink,
                                             const std::vector<std::uint64_t>& offsets,
                                             proto::HashScope scope, Observer& observer,
                                             Cancellation* cancellation) {
  proto::ReceiveTracker tracker(offer, offsets, scope);
  ProgressClock clock;
  std::uint64_t resumed = 0;
  for (auto o : offsets) resumed += o;
  const std::uint64_t total = offer.total_bytes();
  std::size_t open_file = offer.entries.size();  // none
  const auto ensure_open = [&](std::uint32_t file) -> proto::Result<void> {
    if (file != tracker.current() || file >= offer.entries.size()) {
      return proto::fail(Errc::protocol, "the sender sent a file out of order");
    }
    if (open_file == file) return {};
    open_file = file;
    return sink.begin(offer, file, offsets[file], tracker);
  };
  for (;;) {
    RecordPipe* pipe = carrier.here.pipe.get();
    auto m = co_await pipe->receive_message();
    if (!m) {
      sink.abandon();
      if (m.error().code == Errc::peer_gone) {
        co_return proto::fail(Errc::peer_gone,
                              "lost the sender mid-transfer (" + m.error().detail + ") after " +
                                  proto::human_bytes(resumed + tracker.received_bytes()) + " of " +
                                  proto::human_bytes(total) + ". What arrived is kept as *" +
                                  std::string(kPartSuffix) +
                                  "; receive again from the same sender "
                                  "to resume");
      }
      co_return std::unexpected(m.error());
    }
    if (const auto* chunk = std::get_if<msg::Chunk>(&*m)) {
      auto r = ensure_open(chunk->file);
      if (!r) co_return r;
      // Hash and write a record in slices, letting the event loop in between: on QUIC this side
      // acknowledges packets from the loop, and a record's worth of work in one go (~2 ms for
      // 1 MiB) would hold the acknowledgements back and stall the sender.
      for (std::size_t at = 0; at < chunk->data.size() || at == 0; at += kSliceBytes) {
        const msg::Chunk slice{
            chunk->file, chunk->offset + at,
            chunk->data.subspan(at, std::min(kSliceBytes, chunk->data.size() - at))};
        r = tracker.on_chunk(slice);
        if (r) r = sink.write(slice.data);
        if (!r) co_return r;
        if (at + kSliceBytes < chunk->data.size()) co_await yield();
      }
      if (clock.due()) {
        observer.on_event(
            event::Progress{resumed + tracker.received_bytes(), total, clock.seconds()});
      }
    } else if (const auto* end = std::get_if<msg::FileEnd>(&*m)) {
      auto r = ensure_open(end->file);
      if (r) r = tracker.on_file_end(*end);
      if (!r && r.error().code == Errc::integrity) {
        if (sink.adopted() > 0) {
          // Not ours to delete: the bytes it held before this transfer stay as they were.
          r.error().detail += "; the part file kept from an earlier transfer (" +
                              proto::human_bytes(sink.adopted()) +
                              ") does not belong to this file and was left as it was: remove \"" +
                              sink.part_name() + "\" and receive again";
        }
        sink.discard();
      }
      if (r) r = sink.commit();
      if (!r) co_return r;
      open_file = offer.entries.size();
    } else if (std::holds_alternative<msg::Done>(*m)) {
      if (auto r = tracker.on_done(); !r) co_return r;
      sink.date_folders(offer);
      const proto::PipeMessage ack = msg::Ack{};
      if (auto r = co_await pipe->send(ack, true); !r) co_return r;
      observer.on_event(
          event::Progress{resumed + tracker.received_bytes(), total, clock.seconds()});
      observer.on_event(
          event::Done{tracker.received_bytes(), total, clock.seconds(), offer.file_count()});
      co_return proto::Result<void>{};
    } else if (const auto* moved = std::get_if<msg::Moved>(&*m)) {
      if (auto r = carrier.move(*moved, observer, cancellation); !r) {
        sink.abandon();
        co_return r;
      }
    } else if (const auto* a = std::get_if<msg::Abort>(&*m)) {
      sink.abandon();
      co_return std::unexpected(proto::abort_error(*a, "the sender"));
    } else {
      co_return proto::fail(Errc::protocol,
                            "unexpected message from the sender during the transfer");
    }
  }
}

// Tells the sender why we stop, and makes sure the words arrive before the connection ends.
awaitable<void> abort_peer(RecordPipe& pipe, const proto::Error& e) {
  // Gone: nobody to tell. Interrupted: Ctrl-C's cancellation is telling the sender already.
  if (e.code == Errc::peer_gone || e.code == Errc::interrupted) co_return;
  const proto::PipeMessage abort = msg::Abort{std::string(proto::errc_name(e.code)), e.detail};
  co_await pipe.send_last(abort, kCloseGrace);
}

// What keeping both renamed, told to the person: each file given a free name, or once for a
// folder kept apart as a whole. names: the listed entries' names before.
void tell_renamed(const std::vector<std::string>& names, const proto::Offer& offer,
                  const std::vector<std::size_t>& which, Observer& observer) {
  std::set<std::string> folders_told;
  for (std::size_t k = 0; k < which.size(); ++k) {
    const std::string& was = names[k];
    const std::string& now = offer.entries[which[k]].path;
    const std::string top = was.substr(0, was.find('/'));
    const bool folder_moved = top != was && !now.starts_with(top + "/");
    if (folder_moved && !folders_told.insert(top).second) continue;
    observer.on_event(
        event::Note{(folder_moved ? "The folder \"" + proto::display_name(top)
                                  : "\"" + proto::display_name(was)) +
                    "\" exists here: saving the new one as \"" +
                    proto::display_name(folder_moved ? now.substr(0, now.find('/')) : now) + "\""});
  }
}

}  // namespace

proto::Result<FileSink> open_sink(const ReceiveOptions& options) {
  return options.to_stdout ? FileSink::open_stdout()
                           : FileSink::open(options.output, options.overwrite);
}

namespace {

// One pairing's session on the receiving side, from the claim's answer on: the PAKE, the race,
// the transfer.
awaitable<proto::Result<void>> receive_session(std::shared_ptr<RendezvousClient> rendezvous,
                                               proto::rv::Paired paired,
                                               std::shared_ptr<UdpPaths> udp,
                                               const proto::PathPolicy& policy,
                                               std::chrono::steady_clock::duration connect_time,
                                               FileSink& sink, const ReceiveOptions& options,
                                               Observer& observer, Continuation& continuation) {
  const RaceStopper udp_stopper{nullptr, udp};
  observer.on_event(event::PeerJoined{});
  auto secrets = co_await handshake_as_receiver(*rendezvous, paired, options.secret);
  if (!secrets) co_return std::unexpected(secrets.error());

  auto mailbox = std::make_shared<Mailbox>(rendezvous, *secrets);
  const proto::CandidateScope scope{paired.peer_observed, paired.observed};
  auto chosen =
      co_await open_pipe(mailbox, *secrets, options.server, policy, scope, udp, connect_time);
  if (!chosen) {
    rendezvous->close();
    co_return std::unexpected(chosen.error());
  }
  observer.on_event(connected_event(*chosen));
  const RaceStopper stopper{chosen->race, nullptr};
  // Once the offer came, it is certain the sender took our "select": leaving the mailbox earlier
  // could make it read our departure as a vanished peer. While a direct path may still take over
  // from the relay, the mailbox stays for the ports routers map late.
  // Named, not a temporary in the co_await: g++ 12 destroys such temporaries twice.
  std::function<void()> on_offer = [race = chosen->race, rendezvous] {
    race->on_finish([rendezvous] { rendezvous->close(); });
  };
  co_return co_await receive_over(std::move(*chosen), sink, options, observer, std::move(on_offer),
                                  &continuation);
}

// How long after a dropped connection the nameplate may still look taken: a dead cluster node's
// waiting claim (ours) holds it until the node's heartbeat runs out.
constexpr std::chrono::seconds kStaleClaim{10};

// How long a receiver that broke off waits for its sender to take the code back, when the break
// took the sender's connection to the server too.
constexpr std::chrono::seconds kRetakeWait{3};

// A connection to the server and the pairing it gave.
struct Claimed {
  std::shared_ptr<RendezvousClient> rendezvous;
  proto::rv::Paired paired;
};

// Claims the nameplate on `rendezvous`; while the connection itself drops (its server node died,
// the network blinked) and give_up is ahead, connects again through the same URL, any node of a
// cluster, every second, and claims again with what is left of the wait. A refusal or a wait
// that ran out ends it at once.
awaitable<proto::Result<Claimed>> claim_through_drops(
    std::shared_ptr<RendezvousClient> rendezvous, const ReceiveOptions& options,
    std::chrono::seconds wait, std::chrono::steady_clock::time_point give_up,
    const std::function<void(const RendezvousClient&)>& on_waiting, Observer& observer) {
  asio::steady_timer pause(co_await asio::this_coro::executor);
  std::chrono::steady_clock::time_point dropped{};  // when the connection last dropped
  for (;;) {
    std::function<void()> waiting;
    if (on_waiting) waiting = [&on_waiting, client = rendezvous.get()] { on_waiting(*client); };
    auto paired = co_await rendezvous->claim(options.secret.nameplate, wait, waiting);
    if (paired) co_return Claimed{std::move(rendezvous), std::move(*paired)};
    const auto now = std::chrono::steady_clock::now();
    const bool stale = paired.error().code == Errc::code_taken && now < dropped + kStaleClaim;
    if ((!rendezvous->lost() && !stale) || now >= give_up)
      co_return std::unexpected(paired.error());
    if (!stale) {
      dropped = now;
      observer.on_event(event::Note{"Lost the connection to the server (" + paired.error().detail +
                                    "); reconnecting"});
    }
    proto::Error last = paired.error();
    if (stale) {
      // Our own waiting claim, on the dead node, still holds the number: a moment more.
      pause.expires_after(std::chrono::seconds(1));
      error_code ec;
      co_await pause.async_wait(redirect(ec));
    }
    rendezvous = nullptr;
    while (rendezvous == nullptr && std::chrono::steady_clock::now() < give_up) {
      auto again = co_await RendezvousClient::connect(options.server, Budgets::kServerConnect);
      if (again) {
        rendezvous = std::make_shared<RendezvousClient>(std::move(*again));
        break;
      }
      last = again.error();
      pause.expires_after(std::chrono::seconds(1));
      error_code ec;
      co_await pause.async_wait(redirect(ec));
    }
    if (rendezvous == nullptr) co_return std::unexpected(last);
    if (wait.count() > 0) {
      const auto left =
          std::chrono::ceil<std::chrono::seconds>(give_up - std::chrono::steady_clock::now());
      wait = std::max(left, std::chrono::seconds(1));
    }
    if (!stale) observer.on_event(event::Note{"Reconnected; still claiming the code"});
  }
}

}  // namespace

awaitable<proto::Result<void>> receive(ReceiveOptions options, Observer& observer) {
  // Check the target folder before anything touches the network.
  auto sink = open_sink(options);
  if (!sink) co_return std::unexpected(sink.error());

  const auto connect_start = std::chrono::steady_clock::now();
  auto rendezvous_result =
      co_await RendezvousClient::connect(options.server, Budgets::kServerConnect);
  if (!rendezvous_result) co_return std::unexpected(rendezvous_result.error());
  auto rendezvous = std::make_shared<RendezvousClient>(std::move(*rendezvous_result));
  if (!rendezvous->route_note().empty()) observer.on_event(event::Note{rendezvous->route_note()});
  // UDP candidates are gathered while the nameplate is claimed and the PAKE runs.
  const auto connect_time = std::chrono::steady_clock::now() - connect_start;
  auto policy = path_policy(options.force_relay, options.no_tcp, options.no_udp,
                            options.no_relay_tcp, options.no_relay_udp);
  policy.tcp_connections = options.tcp_connections;
  auto ex = co_await asio::this_coro::executor;
  auto udp =
      start_udp(ex, options.server, *rendezvous, proto::Side::receiver, policy, connect_time);
  RaceStopper udp_stopper{nullptr, udp};
  bool waited = false;
  // With wait 0 the server still asks for a wait when the sender is reconnecting (a cluster
  // node died): RendezvousClient waits kReconnectWait then.
  const auto wait_limit =
      options.wait.count() > 0 ? options.wait : RendezvousClient::kReconnectWait;
  const std::function<void(const RendezvousClient&)> on_waiting =
      [&observer, &waited, limit = wait_limit](const RendezvousClient& client) {
        if (std::exchange(waited, true) && !client.queued()) return;  // said once already
        if (client.queued()) {
          // A group send: its sender is checking another receiver's code first.
          return observer.on_event(
              event::Note{"The sender is starting with another receiver; you are next in line"});
        }
        observer.on_event(event::WaitingForSender{limit});
      };
  // The wait holds across a dropped connection: a receiver waiting for its sender keeps waiting
  // through another node when its own dies.
  auto claimed = co_await claim_through_drops(rendezvous, options, options.wait,
                                              std::chrono::steady_clock::now() + wait_limit,
                                              on_waiting, observer);
  if (!claimed) co_return std::unexpected(claimed.error());
  rendezvous = claimed->rendezvous;
  auto paired = proto::Result<proto::rv::Paired>(std::move(claimed->paired));
  if (waited && udp) {
    // Minutes may have passed: a NAT may have dropped the UDP mappings learnt before; learn anew.
    udp->stop();
    udp = start_udp(ex, options.server, *rendezvous, proto::Side::receiver, policy, connect_time);
  }
  udp_stopper.udp = nullptr;  // each session stops its own

  Continuation continuation;
  for (;;) {
    auto r = co_await receive_session(rendezvous, std::move(*paired), udp, policy, connect_time,
                                      *sink, options, observer, continuation);
    if (r || r.error().code != Errc::peer_gone || !continuation.accepted || options.to_stdout) {
      co_return r;
    }
    // Broken off mid-transfer (the path, not a refusal): the sender keeps the code for us, so
    // claim it again and continue from the part files, on whatever path works now.
    observer.on_event(
        event::Note{"The transfer broke off (" + r.error().detail + "); reconnecting to continue"});
    auto again = co_await RendezvousClient::connect(options.server, Budgets::kServerConnect);
    if (!again) co_return r;
    // The server may be what broke (a cluster node died): the claim goes through another node.
    // It waits a moment: the sender's own connection may have dropped too, which ends its code
    // until the sender takes it back (within a second or two), and a waiting claim is paired by
    // that retake at once. A sender that is gone for good is not waited for longer than that.
    auto reclaimed = co_await claim_through_drops(
        std::make_shared<RendezvousClient>(std::move(*again)), options, kRetakeWait,
        std::chrono::steady_clock::now() + RendezvousClient::kReconnectWait, {}, observer);
    if (!reclaimed) {
      // The sender is gone too (its code went with it), or never kept it (an older one).
      co_return r;
    }
    rendezvous = reclaimed->rendezvous;
    paired = std::move(reclaimed->paired);
    udp = start_udp(ex, options.server, *rendezvous, proto::Side::receiver, policy, connect_time);
    observer.on_event(event::Note{"Reconnected to the sender; continuing"});
  }
}

// Decides, before anything is accepted, what happens to the offer here: files that exist already
// are overwritten, renamed or the offer is declined, as the options or the person say. The sender
// hears only "declined", never which names exist here.
awaitable<proto::Result<void>> decide_offer(proto::Offer& offer, FileSink& sink,
                                            const ReceiveOptions& options, Observer& observer) {
  if (options.to_stdout) {
    if (offer.file_count() != 1 || offer.entries.size() != 1) {
      co_return proto::fail(Errc::usage, "-o - writes one file to stdout, and this offer holds " +
                                             std::to_string(offer.file_count()) + " files in " +
                                             std::to_string(offer.entries.size()) +
                                             " entries; receive it into a folder instead");
    }
    if (co_await person_declines(observer, offer, options)) co_return you_declined();
    co_return proto::Result<void>{};
  }
  auto existing = sink.conflicts(offer);
  if (!existing) {
    // The person sees the offer before anything about this folder shapes the answer the sender
    // gets (a decline that came at once would tell it that something here is in the way).
    if (co_await person_declines(observer, offer, options)) co_return you_declined();
    co_return std::unexpected(existing.error());
  }
  std::vector<std::string> names;
  for (auto i : *existing) names.push_back(offer.entries[i].path);
  // What the flags already decided about names that exist here.
  std::optional<Answer> preset;
  if (existing->empty()) {
    preset = Answer::accept;
  } else if (options.overwrite) {
    preset = Answer::overwrite;
  } else if (options.rename || options.yes) {
    // --yes alone keeps both: the new files get free names, nothing here is touched. Refusing
    // instead would tell the sender which of its names exist here (a decline, where an absent
    // name gets an accept).
    preset = Answer::rename;
  }
  Answer answer = preset.value_or(Answer::decline);
  if (!options.yes) {
    // Named, not a ?: temporary: g++ 12 destroys conditional temporaries in co_await twice.
    const std::vector<std::string> shown = preset ? std::vector<std::string>{} : names;
    const Answer asked = co_await ask(observer, offer, shown);
    answer = preset && asked != Answer::decline ? *preset : asked;
  }
  switch (answer) {
    case Answer::decline:
      co_return you_declined();
    case Answer::accept:
      co_return sink.check(offer);
    case Answer::overwrite:
      co_return sink.allow_overwrite(offer, *existing);
    case Answer::rename:
      if (auto r = sink.rename(offer, *existing); !r) co_return r;
      tell_renamed(names, offer, *existing, observer);
      co_return proto::Result<void>{};
  }
  co_return proto::Result<void>{};
}

awaitable<proto::Result<void>> receive_over(ChosenPipe chosen, FileSink& sink_ref,
                                            const ReceiveOptions& options, Observer& observer,
                                            std::function<void()> on_offer,
                                            Continuation* continuation) {
  const std::shared_ptr<RecordPipe> first = chosen.pipe;
  const proto::Features features = chosen.features;
  RecordPipe& pipe = *first;
  FileSink* sink = &sink_ref;
  attach(options.cancellation, first);
  auto offer = co_await receive_offer(pipe);
  if (on_offer) on_offer();
  if (!offer) {
    co_await abort_peer(pipe, offer.error());
    co_return std::unexpected(offer.error());
  }
  // The same offer again after a break: this side's first decision stands.
  const bool again = continuation != nullptr && continuation->decided &&
                     proto::encode_offer(*continuation->offered) == proto::encode_offer(*offer);
  if (again) {
    *offer = *continuation->decided;
  } else {
    observer.on_event(event::OfferReceived{&*offer});
  }
  if (offer->kind == proto::Offer::Kind::text) {
    observer.on_event(event::TextReceived{offer->text});
  } else if (!again) {
    std::optional<proto::Offer> offered;
    if (continuation != nullptr) offered = *offer;
    if (auto r = co_await decide_offer(*offer, *sink, options, observer); !r) {
      co_await decline(pipe);
      co_return r;
    }
    if (continuation != nullptr) {
      continuation->offered = std::move(offered);
      continuation->decided = *offer;
    }
  }
  std::vector<std::uint64_t> offsets(offer->entries.size(), 0);
  if (offer->kind == proto::Offer::Kind::files) {
    offsets = sink->resume_offsets(*offer);
    if (auto r = sink->check_room(*offer, offsets); !r) {
      co_await decline(pipe);
      co_return r;
    }
    std::uint64_t resumed = 0;
    for (auto o : offsets) resumed += o;
    if (resumed > 0) observer.on_event(event::Resumed{resumed});
    if (auto r = sink->make_folders(*offer); !r) {
      co_await abort_peer(pipe, r.error());
      co_return r;
    }
  }
  const proto::PipeMessage accept = msg::Accept{offsets};
  if (auto r = co_await pipe.send(accept); !r) co_return r;
  if (continuation != nullptr && offer->kind == proto::Offer::Kind::files) {
    continuation->accepted = true;
  }
  Carrier carrier{std::move(chosen), nullptr, std::nullopt, features.pipe_trial, {}};
  carrier.race = carrier.here.race;
  const auto scope = features.prefix_hash ? proto::HashScope::prefix : proto::HashScope::whole_file;
  auto r = co_await receive_files(carrier, *offer, *sink, offsets, scope, observer,
                                  options.cancellation);
  RecordPipe& current = *carrier.here.pipe;
  if (r) {
    // Our confirmation is the sender's last need: see it acknowledged before the pipe closes.
    co_await current.close_gracefully(kCloseGrace);
    co_return r;
  }
  co_await abort_peer(current, r.error());
  if (r.error().code != Errc::interrupted) current.close();
  co_return r;
}

}  // namespace ferry::session
