// The sending side of a transfer.
#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/read.hpp>

#include "proto/names.hpp"
#include "proto/pipe_choice.hpp"
#include "proto/transfer_state.hpp"
#include "session/connect.hpp"
#include "session/progress_clock.hpp"
#include "session/transfer.hpp"

namespace ferry::session {

using namespace net;
using proto::Errc;
namespace msg = proto::msg;

namespace {

// The largest chunk; a pipe may want smaller ones (RecordPipe::record_bytes).
constexpr std::size_t kChunkBytes = std::size_t{1024} * 1024 - proto::kChunkHeaderBytes;
constexpr std::size_t kOfferPartBytes = std::size_t{512} * 1024;

constexpr auto kAckTimeout = std::chrono::seconds(120);  // the receiver verifies the last file
constexpr auto kAbortGrace = std::chrono::seconds(2);

// The receiver's last word on the pipe, read concurrently with our writes.
struct Reply {
  explicit Reply(const asio::any_io_executor& ex)
      : ready(ex, asio::steady_timer::time_point::max()) {}
  asio::steady_timer ready;
  std::optional<proto::Result<proto::PipeMessage>> message;
  const RecordPipe* current = nullptr;  // whose reader counts: the transfer may have moved

  awaitable<std::optional<proto::Result<proto::PipeMessage>>> wait(std::chrono::seconds timeout) {
    if (!message) {
      ready.expires_after(timeout);
      error_code ec;
      co_await ready.async_wait(redirect(ec));
    }
    co_return message;
  }
};

// One reader per pipe, from the moment it first carries the transfer: a pipe moved away from
// (and maybe back to) keeps its reader, whose message counts only while the pipe is in use.
awaitable<void> read_reply(std::shared_ptr<RecordPipe> pipe, std::shared_ptr<Reply> reply) {
  auto m = co_await pipe->receive_message();
  if (reply->current != pipe.get()) co_return;  // a pipe we moved away from
  // An abort interrupts our writing at once (they fail, and the abort explains why).
  if (m && std::holds_alternative<msg::Abort>(*m)) pipe->close();
  reply->message = std::move(m);
  reply->ready.cancel();
}

// The pipe the transfer runs on. While the relay carries it, the race may still offer a direct
// pipe (the receiver has selected it) to move to; while one transport carries it, a pipe of the
// other (TCP, QUIC) on the same kind of path that the transfer tries, and keeps if it moves more
// (PipeChoice).
struct Link {
  ChosenPipe here;
  std::shared_ptr<PipeRace> race;  // while it may offer pipes to move to
  std::shared_ptr<Reply> reply;
  Cancellation* cancellation = nullptr;
  // Whether file ends hash the bytes sent now too (the first protocol), or only the resumed
  // prefix (Features::prefix_hash).
  bool hash_fresh = true;
  std::optional<proto::PipeChoice> choice;  // both sides allow the trial
  std::optional<ChosenPipe> waiting;        // the other transport's pipe, not tried yet
  std::optional<ChosenPipe> parked;         // the first pipe, open while the other is tried
  // Direct pipes the transfer left for good, open until the receiver confirmed: a QUIC pipe
  // closed now would take the records still queued on it (the receiver reads a pipe up to its
  // "moved" before the next) with it.
  std::vector<std::shared_ptr<RecordPipe>> retired;
  // The receiver understands Moved::to (Features::relay_udp): each move names its pipe.
  bool tag_moves = false;

  // The transfer is over (confirmed or failed): the spare pipes go too.
  ~Link() { close_spares(); }
  RecordPipe& pipe() { return *here.pipe; }
  // n bytes of payload went out on the pipe in use.
  void carried(std::uint64_t n) {
    if (choice) choice->sent(n, std::chrono::steady_clock::now());
  }
  // How much payload the next record carries (small on a slow pipe while the choice is open).
  std::size_t record_payload() const {
    const std::size_t most =
        std::min(kChunkBytes, here.pipe->record_bytes() - proto::kChunkHeaderBytes);
    return choice ? choice->record_bytes(most) : most;
  }
  void retire(std::optional<ChosenPipe>& spare) {
    if (spare) retired.push_back(std::exchange(spare, std::nullopt)->pipe);
  }
  void close_spares() {
    retire(waiting);
    retire(parked);
    for (const auto& pipe : std::exchange(retired, {})) pipe->close();
  }
};

void close_gracefully(const asio::any_io_executor& ex, const std::shared_ptr<RecordPipe>& pipe) {
  asio::co_spawn(
      ex, [pipe]() -> awaitable<void> { co_await pipe->close_gracefully(std::chrono::seconds(2)); },
      asio::detached);
}

std::string rate_text(double bytes_per_second) {
  return proto::human_bytes(static_cast<std::uint64_t>(bytes_per_second)) + "/s";
}

// What becomes of the pipe the transfer leaves.
enum class Left : std::uint8_t {
  close,   // closed once the receiver has it all (the relay: TCP delivers what it holds)
  park,    // kept for a move back
  retire,  // kept until the receiver confirmed the transfer (direct pipes of a trial)
};

// Between records: "moved" is the old pipe's last record (until the transfer moves back to it),
// so the receiver reads everything in order: the old pipe's up to "moved", then the new one's.
// fresh: next has never carried the transfer (it came from the race), so it needs a reader.
awaitable<void> move_to(Link& link, ChosenPipe next, bool fresh, Left left, Observer& observer) {
  msg::Moved say;
  if (link.tag_moves) say.to = msg::pipe_tag(next.pipe->sent_header());
  const proto::PipeMessage moved = say;
  if (auto r = co_await link.pipe().send(moved); !r) {
    next.pipe->close();  // the old pipe broke on its own; its error tells the story
    co_return;
  }
  ChosenPipe old = std::exchange(link.here, std::move(next));
  attach(link.cancellation, link.here.pipe);
  link.reply->current = link.here.pipe.get();
  auto ex = co_await asio::this_coro::executor;
  if (fresh) asio::co_spawn(ex, read_reply(link.here.pipe, link.reply), asio::detached);
  if (left == Left::park) {
    link.parked = std::move(old);
  } else if (left == Left::retire) {
    link.retired.push_back(old.pipe);
  } else {
    close_gracefully(ex, old.pipe);
  }
  observer.on_event(connected_event(link.here, true));
}

awaitable<void> move_if_better(Link& link, std::uint64_t remaining, Observer& observer) {
  const auto now = std::chrono::steady_clock::now();
  if (link.race) {
    auto up = link.race->take_upgrade();
    if (!link.race->upgrading()) link.race = nullptr;
    if (up) {
      const ChosenPipe& first = link.parked ? *link.parked : link.here;
      if (up->path == proto::PathKind::relay && link.here.path == proto::PathKind::direct) {
        // A relay pipe the receiver chose for a trial, taken here after a direct one: no better.
        link.retired.push_back(up->pipe);
      } else if (link.choice && !link.waiting && up->path == first.path &&
                 up->transport != first.transport) {
        link.waiting = std::move(*up);  // tried once the pipe in use is measured
        link.choice->other_ready(now);
      } else {
        // A direct pipe after the relay: the transfer moves at once, and a trial between relay
        // pipes under way ends. The relay over TCP delivers what it holds when closed; a QUIC
        // pipe is kept until the receiver confirmed.
        link.retire(link.waiting);
        link.retire(link.parked);
        const Left left =
            link.here.transport == proto::PipeTransport::quic ? Left::retire : Left::close;
        co_await move_to(link, std::move(*up), true, left, observer);
        if (link.choice) link.choice.emplace(now);  // the direct pipe is measured afresh
        co_return;
      }
    }
  }
  if (!link.choice || (!link.waiting && !link.parked)) co_return;
  const auto name = [](const ChosenPipe& c) {
    return std::string(proto::pipe_transport_name(c.transport));
  };
  const auto step = link.choice->next(now, remaining);
  switch (step) {
    case proto::PipeChoice::Step::stay:
      co_return;
    case proto::PipeChoice::Step::try_other: {
      // The other pipe, the first time from the race; again (the pipe kept fell behind) from
      // where it was left open, its reply reader still on it.
      const bool again = !link.waiting;
      auto other = std::exchange(again ? link.parked : link.waiting, std::nullopt);
      observer.on_event(event::Note{"Trying " + name(*other) + (again ? " again" : "") +
                                    " beside " + name(link.here) + " (" +
                                    rate_text(*link.choice->first_rate()) + ")"});
      co_await move_to(link, std::move(*other), !again, Left::park, observer);
      co_return;
    }
    case proto::PipeChoice::Step::move_back: {
      // The trial pipe stays open: the first may fall behind later (PipeChoice::kFallenBehind).
      auto first = std::exchange(link.parked, std::nullopt);
      observer.on_event(event::Note{"Keeping " + name(*first) + ": it moved " +
                                    rate_text(*link.choice->first_rate()) + ", " + name(link.here) +
                                    " " + rate_text(*link.choice->trial_rate())});
      co_await move_to(link, std::move(*first), false, Left::park, observer);
      co_return;
    }
    case proto::PipeChoice::Step::fall_back: {
      // The trial pipe kept fell behind: back to the first, left open for this.
      auto first = std::exchange(link.parked, std::nullopt);
      observer.on_event(event::Note{"Back to " + name(*first) + ": " + name(link.here) +
                                    " fell to " + rate_text(*link.choice->trial_rate()) + ", " +
                                    name(*first) + " moved " +
                                    rate_text(*link.choice->first_rate())});
      co_await move_to(link, std::move(*first), false, Left::park, observer);
      co_return;
    }
    case proto::PipeChoice::Step::keep_trial:
    case proto::PipeChoice::Step::drop_other: {
      if (link.parked) {
        observer.on_event(event::Note{
            "Keeping " + name(link.here) + ": it moved " + rate_text(*link.choice->trial_rate()) +
            ", " + name(*link.parked) + " " + rate_text(*link.choice->first_rate())});
      }
      link.retire(link.waiting);
      // Kept open while the pipe kept is watched (it may fall behind: Step::fall_back).
      if (step == proto::PipeChoice::Step::drop_other) link.retire(link.parked);
      co_return;
    }
  }
}

class FileReader {
 public:
  explicit FileReader(const std::filesystem::path& path)
      : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {}
  ~FileReader() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileReader(const FileReader&) = delete;
  FileReader& operator=(const FileReader&) = delete;
  bool ok() const { return fd_ >= 0; }
  // Fills exactly n bytes unless the file ended early.
  ssize_t read(std::uint8_t* out, std::size_t n) {
    std::size_t got = 0;
    while (got < n) {
      const ssize_t r = ::read(fd_, out + got, n - got);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return -1;
      if (r == 0) break;
      got += static_cast<std::size_t>(r);
    }
    return static_cast<ssize_t>(got);
  }

 private:
  int fd_;
};

awaitable<proto::Result<void>> send_offer(RecordPipe& pipe, const proto::Offer& offer) {
  const std::string json = proto::encode_offer(offer);
  const auto bytes = proto::as_bytes(json);
  for (std::size_t pos = 0;;) {
    const std::size_t n = std::min(kOfferPartBytes, bytes.size() - pos);
    const bool last = pos + n == bytes.size();
    const proto::PipeMessage part = msg::OfferPart{last, bytes.subspan(pos, n)};
    auto r = co_await pipe.send(part);
    if (!r || last) co_return r;
    pos += n;
  }
}

// A streamed file (a pipe on stdin): read as it comes, without blocking the event loop where the
// descriptor allows it, until it ends; its size is learnt at the end.
awaitable<proto::Result<void>> send_stream(Link& link, const FileSource& source,
                                           std::uint32_t index, std::uint64_t& sent,
                                           std::uint64_t total, ProgressClock& clock,
                                           Observer& observer) {
  auto ex = co_await asio::this_coro::executor;
  const int fd = ::dup(source.stream_fd());
  if (fd < 0) co_return proto::fail(Errc::io_error, "cannot read stdin");
  // Asio makes the descriptor non-blocking, and the flag is shared with whoever else holds it
  // (the shell's terminal): put it back when done, through the original descriptor (the dup may
  // be closed by then).
  struct Descriptor {
    int fd;
    int original;
    int flags;
    bool owned = false;  // closed here unless the stream_descriptor took it
    ~Descriptor() {
      if (flags >= 0) ::fcntl(original, F_SETFL, flags);
      if (owned) ::close(fd);
    }
  } guard{fd, source.stream_fd(), ::fcntl(fd, F_GETFL)};
  asio::posix::stream_descriptor input(ex);
  error_code assigned;
  input.assign(fd, assigned);
  // A descriptor epoll cannot watch (/dev/null, some devices) is read the blocking way.
  bool blocking = static_cast<bool>(assigned);
  guard.owned = blocking;
  proto::FileHasher hasher;
  proto::Bytes buf(proto::kChunkHeaderBytes + kChunkBytes);
  std::uint8_t* data = buf.data() + proto::kChunkHeaderBytes;
  for (std::uint64_t pos = 0;;) {
    const std::size_t most = link.record_payload();
    error_code ec;
    std::size_t n = 0;
    if (!blocking) {
      n = co_await asio::async_read(input, asio::buffer(data, most), redirect(ec));
    } else {
      const ssize_t r = ::read(fd, data, most);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) ec.assign(errno, boost::system::system_category());
      if (r == 0) ec = asio::error::eof;
      n = r > 0 ? static_cast<std::size_t>(r) : 0;
    }
    if (ec && ec != asio::error::eof) {
      co_return proto::fail(Errc::io_error, "reading stdin failed: " + ec.message());
    }
    if (n > 0) {
      if (pos + n > proto::kMaxFileBytes) {
        co_return proto::fail(Errc::io_error, "stdin is too long to send");
      }
      if (link.hash_fresh) hasher.update(proto::ByteView(data, n));
      proto::encode_chunk_header(index, pos, buf.data());
      // How much is left is unknown: as good as long (a short stream ends before any trial).
      co_await move_if_better(link, std::numeric_limits<std::uint64_t>::max(), observer);
      auto r = co_await link.pipe().send_record(
          proto::ByteView(buf.data(), proto::kChunkHeaderBytes + n));
      if (!r) co_return r;
      link.carried(n);
      pos += n;
      sent += n;
      if (clock.due()) observer.on_event(event::Progress{sent, total, clock.seconds()});
    }
    if (ec == asio::error::eof) break;
  }
  const proto::PipeMessage end = msg::FileEnd{index, hasher.finish()};
  co_return co_await link.pipe().send(end);
}

awaitable<proto::Result<void>> send_file(Link& link, const FileSource& source, std::uint32_t index,
                                         std::uint64_t start, std::uint64_t& sent,
                                         std::uint64_t total, ProgressClock& clock,
                                         Observer& observer) {
  const auto& entry = source.offer().entries[index];
  if (entry.streamed)
    co_return co_await send_stream(link, source, index, sent, total, clock, observer);
  const auto name = proto::display_name(entry.path);
  FileReader file(source.source(index));
  if (!file.ok())
    co_return proto::fail(Errc::io_error, "cannot open \"" + name + "\": " + std::strerror(errno));
  proto::FileHasher hasher;
  // One record's worth, or the whole file when it is smaller (thousands of small files must not
  // each pay for zeroing a 1 MiB buffer).
  proto::Bytes buf(proto::kChunkHeaderBytes +
                   static_cast<std::size_t>(std::min<std::uint64_t>(kChunkBytes, entry.size)));
  std::uint8_t* data = buf.data() + proto::kChunkHeaderBytes;
  const auto changed = [&] {
    return proto::fail(Errc::io_error, "\"" + name + "\" changed while it was being sent");
  };
  // The receiver already holds [0, start): hash it, do not send it.
  for (std::uint64_t pos = 0; pos < start;) {
    const std::size_t want =
        static_cast<std::size_t>(std::min<std::uint64_t>(kChunkBytes, start - pos));
    if (file.read(data, want) != static_cast<ssize_t>(want)) co_return changed();
    hasher.update(proto::ByteView(data, want));
    pos += want;
  }
  for (std::uint64_t pos = start; pos < entry.size;) {
    const std::size_t most = link.record_payload();
    const std::size_t want =
        static_cast<std::size_t>(std::min<std::uint64_t>(most, entry.size - pos));
    if (file.read(data, want) != static_cast<ssize_t>(want)) co_return changed();
    if (link.hash_fresh) hasher.update(proto::ByteView(data, want));
    proto::encode_chunk_header(index, pos, buf.data());
    const proto::ByteView record(buf.data(), proto::kChunkHeaderBytes + want);
    co_await move_if_better(link, total - sent, observer);
    auto r = co_await link.pipe().send_record(record);
    if (!r) co_return r;
    link.carried(want);
    pos += want;
    sent += want;
    if (clock.due()) observer.on_event(event::Progress{sent, total, clock.seconds()});
  }
  const proto::PipeMessage end = msg::FileEnd{index, hasher.finish()};
  co_return co_await link.pipe().send(end);
}

// How long a waiting sender tries to get its code back after its connection to the server
// dropped.
constexpr std::chrono::seconds kReconnectFor{60};

// Connects again and takes the code back with its resume token, trying every second until
// give_up. A refusal (the code was given away meanwhile) ends it at once.
awaitable<proto::Result<std::shared_ptr<RendezvousClient>>> reconnect_sender(
    const proto::ServerUrl& server, const std::string& nameplate, const proto::Bytes& resume,
    const proto::Error& why, std::chrono::steady_clock::time_point give_up, Observer& observer,
    std::uint32_t receivers = 1, bool lost = true) {
  if (lost) {
    observer.on_event(event::Note{"Lost the connection to the server (" + why.detail +
                                  "); reconnecting to keep the code"});
  }
  asio::steady_timer pause(co_await asio::this_coro::executor);
  proto::Error last = why;
  while (std::chrono::steady_clock::now() < give_up) {
    auto connected = co_await RendezvousClient::connect(server, Budgets::kServerConnect);
    if (connected) {
      auto client = std::make_shared<RendezvousClient>(std::move(*connected));
      auto taken = co_await client->allocate(nameplate, resume, receivers);
      if (taken) {
        if (lost) observer.on_event(event::Note{"Reconnected; the code still works"});
        co_return client;
      }
      if (!client->lost()) {
        co_return proto::fail(taken.error().code,
                              "the server no longer holds this code after the connection "
                              "dropped (" +
                                  taken.error().detail + "); start again for a new code");
      }
      last = taken.error();
    } else {
      last = connected.error();
    }
    pause.expires_after(std::chrono::seconds(1));
    error_code ec;
    co_await pause.async_wait(redirect(ec));
  }
  co_return proto::fail(Errc::server_unreachable,
                        "lost the connection to the server and could not reconnect within " +
                            std::to_string(kReconnectFor.count()) + " s: " + last.detail);
}

}  // namespace

namespace {

// What one receiver's session needs besides its pairing.
struct SessionContext {
  proto::ServerUrl server;
  proto::PathPolicy policy;
  std::chrono::steady_clock::duration connect_time{};
  proto::Secret words;
  proto::Secret link;
  const FileSource* source = nullptr;
  Cancellation* cancellation = nullptr;
};

// A group send's hold on a session's rendezvous connection: the server ends the group when that
// connection closes before the next one asked for a receiver (rv::Allocate::next), so it stays
// open until then, even once its race is over.
struct Hold {
  bool released = false;
  bool wanted_closed = false;
  std::shared_ptr<RendezvousClient> rendezvous;
  void close() {
    if (released) {
      rendezvous->close();
    } else {
      wanted_closed = true;
    }
  }
  void release() {
    released = true;
    if (wanted_closed) rendezvous->close();
  }
};

// One receiver's session, from its pairing on: the PAKE, the race, the transfer. proven: told
// whether the receiver's code proved right (once, when the PAKE ends).
awaitable<proto::Result<void>> one_session(std::shared_ptr<RendezvousClient> rendezvous,
                                           proto::rv::Paired paired, const SessionContext& ctx,
                                           Observer& observer, std::function<void(bool)> proven,
                                           std::shared_ptr<Hold> hold, bool* accepted = nullptr) {
  auto ex = co_await asio::this_coro::executor;
  observer.on_event(event::PeerJoined{});
  // Gathered now, not while waiting for the receiver (NAT mappings of idle sockets expire), and
  // while the PAKE runs.
  auto udp =
      start_udp(ex, ctx.server, *rendezvous, proto::Side::sender, ctx.policy, ctx.connect_time);
  const RaceStopper udp_stopper{nullptr, udp};
  auto secrets = co_await handshake_as_sender(*rendezvous, paired, ctx.words, ctx.link);
  proven(secrets.has_value());
  if (!secrets) {
    rendezvous->close();
    co_return std::unexpected(secrets.error());
  }
  auto mailbox = std::make_shared<Mailbox>(rendezvous, *secrets);
  const proto::CandidateScope scope{paired.peer_observed, paired.observed};
  auto chosen =
      co_await open_pipe(mailbox, *secrets, ctx.server, ctx.policy, scope, udp, ctx.connect_time);
  if (!chosen) {
    hold->close();
    co_return std::unexpected(chosen.error());
  }
  // The transfer needs the server's mailbox no longer than the race (later mapped ports); the
  // hold keeps the connection until the code is back in the sender's hands (Hold).
  chosen->race->on_finish([hold] { hold->close(); });
  observer.on_event(connected_event(*chosen));
  const RaceStopper stopper{chosen->race, nullptr};
  co_return co_await send_over(std::move(*chosen), *ctx.source, observer, ctx.cancellation,
                               accepted);
}

// Tells the console which receiver an event is about.
class ReceiverObserver final : public Observer {
 public:
  ReceiverObserver(Observer& inner, std::size_t index) : inner_(inner), index_(index) {}
  void on_event(const Event& e) override { inner_.on_receiver_event(index_, e); }
  void ask_accept(const proto::Offer& offer, const std::vector<std::string>& existing,
                  std::function<void(Answer)> answer) override {
    inner_.ask_accept(offer, existing, std::move(answer));
  }

 private:
  Observer& inner_;
  std::size_t index_;
};

// A group send's sessions, run side by side.
struct Group {
  explicit Group(const asio::any_io_executor& ex)
      : settled(ex, asio::steady_timer::time_point::max()),
        proven(ex, asio::steady_timer::time_point::max()) {}
  std::size_t active = 0;  // sessions running
  std::size_t done = 0;    // receivers that got everything
  std::vector<std::pair<std::size_t, proto::Error>> failed;
  bool stopped = false;     // Ctrl-C or --expire: no new receivers
  std::size_t pairing = 0;  // the receiver whose PAKE the loop waits for
  std::optional<bool> last_proven;
  asio::steady_timer settled;  // cancelled when the last session ends
  asio::steady_timer proven;   // cancelled when a pairing's PAKE ended
  std::shared_ptr<RendezvousClient> waiting;
  std::vector<std::unique_ptr<ReceiverObserver>> observers;  // alive as long as the group
};

std::string receivers_text(std::size_t n) {
  return std::to_string(n) + (n == 1 ? " receiver" : " receivers");
}

// The group's outcome: every receiver that joined got everything (or none joined and the send
// was stopped), or the first failure, with the count that succeeded.
proto::Result<void> group_outcome(const Group& g, const std::optional<proto::Error>& ended) {
  if (ended) {
    return proto::fail(ended->code,
                       ended->detail + " (" + receivers_text(g.done) + " got everything before)");
  }
  if (g.failed.empty()) return {};
  const auto& [index, error] = g.failed.front();
  return proto::fail(error.code, "receiver " + std::to_string(index) + ": " + error.detail + " (" +
                                     std::to_string(g.done) + " of " +
                                     std::to_string(g.done + g.failed.size()) +
                                     " receivers got everything)");
}

awaitable<proto::Result<void>> send_group(std::shared_ptr<RendezvousClient> rendezvous,
                                          const std::string& nameplate, const proto::Bytes& resume,
                                          SessionContext ctx, const SendOptions& options,
                                          Observer& observer) {
  auto ex = co_await asio::this_coro::executor;
  auto g = std::make_shared<Group>(ex);
  g->waiting = rendezvous;
  std::uint32_t left = options.receivers;  // 0: any number
  if (options.cancellation != nullptr) {
    options.cancellation->on_stop([g] {
      g->stopped = true;
      if (g->waiting) g->waiting->close();
      return g->active == 0;
    });
  }
  asio::steady_timer expiry(ex, asio::steady_timer::time_point::max());
  if (options.expire.count() > 0) {
    expiry.expires_after(options.expire);
    expiry.async_wait([g](const error_code& ec) {
      if (ec || g->stopped) return;
      g->stopped = true;
      if (g->waiting) g->waiting->close();
    });
  }
  std::optional<proto::Error> ended;  // a failure that ended the group (wrong code, server)
  std::size_t index = 0;
  while (!g->stopped) {
    auto paired = co_await g->waiting->wait_paired();
    if (!paired && !g->stopped && g->waiting->lost()) {
      const auto give_up = std::chrono::steady_clock::now() + kReconnectFor;
      auto again = co_await reconnect_sender(ctx.server, nameplate, resume, paired.error(), give_up,
                                             observer, left == 0 ? 0 : left);
      if (!again) {
        ended = again.error();
        break;
      }
      g->waiting = std::move(*again);
      continue;
    }
    if (!paired) {
      if (!g->stopped) ended = paired.error();
      break;
    }
    ++index;
    auto session_rendezvous = std::exchange(g->waiting, nullptr);
    auto hold = std::make_shared<Hold>(Hold{false, false, session_rendezvous});
    g->observers.push_back(std::make_unique<ReceiverObserver>(observer, index));
    Observer& tagged = *g->observers.back();
    auto child = options.cancellation != nullptr ? options.cancellation->child() : nullptr;
    SessionContext mine = ctx;
    mine.cancellation = child.get();
    g->last_proven.reset();
    g->pairing = index;
    g->proven.expires_at(asio::steady_timer::time_point::max());
    ++g->active;
    // Once per session, and only about the pairing the loop waits for.
    const auto told = [g, index, once = std::make_shared<bool>(false)](bool ok) {
      if (std::exchange(*once, true) || g->pairing != index) return;
      g->last_proven = ok;
      g->proven.cancel();
    };
    asio::co_spawn(
        ex,
        [session_rendezvous, p = std::move(*paired), mine, &tagged, hold, told,
         child]() -> awaitable<proto::Result<void>> {
          co_return co_await one_session(session_rendezvous, p, mine, tagged, told, hold);
        },
        [g, index, told](const std::exception_ptr& ep, proto::Result<void> r) {
          if (ep) r = proto::fail(Errc::internal, "internal error in a receiver's session");
          told(false);  // (no-op once the PAKE told)
          if (r) {
            ++g->done;
          } else {
            g->failed.emplace_back(index, r.error());
          }
          if (--g->active == 0) g->settled.cancel();
        });
    if (!g->last_proven) {
      error_code ec;
      co_await g->proven.async_wait(redirect(ec));
    }
    if (!g->last_proven.value_or(false)) {
      // One guess for the code: a wrong one (or a receiver gone before it was proven) ends it.
      ended = proto::Error{Errc::wrong_code,
                           "receiver " + std::to_string(index) +
                               "'s code did not match (a typo, or someone guessed), so the "
                               "code is used up: nobody else can receive with it"};
      observer.on_event(event::Note{ended->detail + "; transfers under way go on"});
      break;
    }
    if (left == 1 || g->stopped) {
      hold->release();
      break;
    }
    if (left > 1) --left;
    // The next receiver: a new connection asks for it, vouching for this one's code.
    auto next = co_await RendezvousClient::connect(ctx.server, Budgets::kServerConnect);
    if (next) {
      auto client = std::make_shared<RendezvousClient>(std::move(*next));
      auto asked = co_await client->allocate(nameplate, resume, 0, true);
      if (asked) {
        g->waiting = std::move(client);
      } else {
        next = std::unexpected(asked.error());
      }
    }
    hold->release();
    if (!next) {
      ended = proto::Error{next.error().code,
                           "could not take the next receiver: " + next.error().detail};
      break;
    }
    if (g->stopped) g->waiting->close();
  }
  expiry.cancel();
  if (g->waiting) g->waiting->close();
  if (g->stopped && !ended) {
    observer.on_event(event::Note{"No longer taking receivers; " + receivers_text(index) +
                                  " joined" +
                                  (g->active > 0 ? ", waiting for the transfers under way" : "")});
  }
  if (g->active > 0) {
    error_code ec;
    co_await g->settled.async_wait(redirect(ec));
  }
  if (options.cancellation != nullptr) options.cancellation->on_stop({});
  co_return group_outcome(*g, ended);
}

// How long a sender whose transfer broke off waits for its receiver to come back with the code.
constexpr std::chrono::minutes kComebackWait{10};

// Whether a failed session may continue when its receiver comes back: the path or the receiver
// went away mid-transfer (not a refusal, a wrong code or a bad file).
bool broke_off(const proto::Error& e) {
  return e.code == Errc::peer_gone;
}

// A single send whose code outlives a break: the session runs as usual; if it breaks off after
// the receiver's code proved right, the sender asks the server for its receiver again, and the
// same `ferry receive CODE` (or the link) continues from the part files, for kComebackWait.
awaitable<proto::Result<void>> send_with_comeback(std::shared_ptr<RendezvousClient> rendezvous,
                                                  const std::string& nameplate,
                                                  const proto::Bytes& resume, SessionContext ctx,
                                                  Observer& observer) {
  auto ex = co_await asio::this_coro::executor;
  auto waiting = std::move(rendezvous);
  std::optional<proto::Error> broke;  // the last break, while waiting for the comeback
  for (;;) {
    asio::steady_timer give_up(ex, asio::steady_timer::time_point::max());
    if (broke) {
      give_up.expires_after(kComebackWait);
      give_up.async_wait([waiting](const error_code& ec) {
        if (!ec) waiting->close();
      });
    }
    auto paired = co_await waiting->wait_paired();
    const bool timed_out = broke && give_up.expiry() <= asio::steady_timer::clock_type::now();
    give_up.cancel();
    if (!paired && !broke && waiting->lost()) {
      // The connection dropped while the code waited: take it back, as a single code does.
      const auto until = std::chrono::steady_clock::now() + kReconnectFor;
      auto again = co_await reconnect_sender(ctx.server, nameplate, resume, paired.error(), until,
                                             observer, 0);
      if (!again) co_return std::unexpected(again.error());
      waiting = std::move(*again);
      continue;
    }
    if (!paired) {
      if (!broke) co_return std::unexpected(paired.error());
      co_return proto::fail(
          broke->code,
          broke->detail + (timed_out ? "; the receiver did not come back within " +
                                           std::to_string(kComebackWait.count()) + " min"
                                     : "; then the server connection was lost (" +
                                           paired.error().detail + ")"));
    }
    if (broke) observer.on_event(event::Note{"The receiver is back; continuing"});
    auto session_rendezvous = std::exchange(waiting, nullptr);
    auto hold = std::make_shared<Hold>(Hold{false, false, session_rendezvous});
    bool proven = false;
    bool accepted = false;
    auto r = co_await one_session(
        session_rendezvous, std::move(*paired), ctx, observer, [&proven](bool ok) { proven = ok; },
        hold, &accepted);
    // Worth coming back for: the receiver knew the code, had accepted (it may hold part files),
    // and the path or the receiver went away (not a refusal, a wrong code or a bad file).
    if (r || !proven || !accepted || !broke_off(r.error())) {
      hold->release();
      co_return r;
    }
    // Broken off: take the code back on a new connection (the server may have restarted: then it
    // is made anew), then let the old one go.
    observer.on_event(event::Note{"The transfer broke off (" + r.error().detail +
                                  "); taking the code back from the server to continue"});
    if (r.error().black_hole && ctx.policy.tcp_mss == 0) {
      // What the path dropped is this side's data: narrowing what it sends is enough.
      ctx.policy.tcp_mss = proto::kNarrowTcpMss;
      observer.on_event(event::Note{
          "Direct TCP connections from now on send packets that fit 1280 bytes, so that the path "
          "carries them"});
    }
    auto next = co_await reconnect_sender(ctx.server, nameplate, resume, r.error(),
                                          std::chrono::steady_clock::now() + kReconnectFor,
                                          observer, 0, false);
    hold->release();
    if (!next) co_return r;  // the code cannot come back: the break is the story
    waiting = std::move(*next);
    broke = r.error();
    observer.on_event(event::Note{
        "Waiting up to " + std::to_string(kComebackWait.count()) +
        " min for the receiver to come back: the same code (or link) continues where it stopped "
        "(Ctrl-C to stop)"});
  }
}

}  // namespace

awaitable<proto::Result<void>> send(const FileSource& source, SendOptions options,
                                    Observer& observer) {
  const auto connect_start = std::chrono::steady_clock::now();
  auto rendezvous_result =
      co_await RendezvousClient::connect(options.server, Budgets::kServerConnect);
  SessionContext ctx;
  ctx.server = options.server;
  ctx.connect_time = std::chrono::steady_clock::now() - connect_start;
  ctx.policy = path_policy(options.force_relay, options.no_tcp, options.no_udp,
                           options.no_relay_tcp, options.no_relay_udp);
  ctx.policy.tcp_connections = options.tcp_connections;
  ctx.source = &source;
  ctx.cancellation = options.cancellation;
  if (!rendezvous_result) co_return std::unexpected(rendezvous_result.error());
  auto rendezvous = std::make_shared<RendezvousClient>(std::move(*rendezvous_result));
  if (!rendezvous->route_note().empty()) observer.on_event(event::Note{rendezvous->route_note()});

  proto::Secret& words = ctx.words;
  if (options.code) {
    words = *options.code;
  } else {
    words.words = random_words();
  }
  // Named, not a ?: temporary: g++ 12 destroys conditional temporaries in co_await twice.
  const std::string wanted = options.code ? options.code->nameplate : std::string();
  // Ours alone: with it, a new connection takes the nameplate back if this one drops.
  proto::Bytes resume(proto::rv::kResumeTokenBytes);
  randombytes_buf(resume.data(), resume.size());
  // A single send is a group too, on the server: after a break its sender takes the code back
  // and the same code continues the transfer (send_with_comeback). (An older server ignores the
  // count: the code is then the plain kind, and a break ends it.)
  const std::uint32_t pairings = options.receivers == 1 ? 0 : options.receivers;
  auto nameplate = co_await rendezvous->allocate(wanted, resume, pairings);
  if (!nameplate) co_return std::unexpected(nameplate.error());
  words.nameplate = *nameplate;
  ctx.link =
      proto::Secret{*nameplate, proto::SecretKind::link, {}, proto::Bytes(proto::kLinkSecretBytes)};
  randombytes_buf(ctx.link.link_secret.data(), ctx.link.link_secret.size());
  observer.on_event(event::CodeReady{
      .code = proto::format_code(words),
      .link = proto::format_link(options.server.to_string(), *nameplate, ctx.link.link_secret),
      .server = options.server.to_string()});
  if (options.receivers != 1) {
    co_return co_await send_group(rendezvous, *nameplate, resume, ctx, options, observer);
  }
  co_return co_await send_with_comeback(rendezvous, *nameplate, resume, ctx, observer);
}

awaitable<proto::Result<void>> send_over(ChosenPipe chosen, const FileSource& source,
                                         Observer& observer, Cancellation* cancellation,
                                         bool* accepted) {
  auto ex = co_await asio::this_coro::executor;
  const std::shared_ptr<RecordPipe> first = chosen.pipe;
  const std::shared_ptr<PipeRace> race = chosen.race;
  const proto::Features features = chosen.features;
  RecordPipe& pipe = *first;
  attach(cancellation, first);

  const proto::Offer& offer = source.offer();
  if (auto r = co_await send_offer(pipe, offer); !r) co_return r;
  auto answer = co_await pipe.receive_message();
  if (!answer) {
    co_return proto::fail(Errc::peer_gone, "the receiver went away before accepting");
  }
  if (const auto* d = std::get_if<msg::Decline>(&*answer)) {
    if (d->reason == proto::errc_name(Errc::target_exists)) {
      co_return proto::fail(Errc::declined,
                            "the receiver already has files with these names and "
                            "did not choose to overwrite them; nothing was sent");
    }
    co_return proto::fail(Errc::declined, "the receiver declined the offer; nothing was sent");
  }
  if (const auto* a = std::get_if<msg::Abort>(&*answer)) {
    co_return std::unexpected(proto::abort_error(*a, "the receiver"));
  }
  const auto* accept = std::get_if<msg::Accept>(&*answer);
  if (accept == nullptr)
    co_return proto::fail(Errc::protocol, "the receiver answered the offer out of order");
  // Worth waiting for after a break only if the receiver comes back (features.comeback).
  if (accepted != nullptr) *accepted = features.comeback;

  // From here the receiver speaks only to end things (ack, or abort: disk full, bad hash, ...);
  // listen while writing so an abort is seen the moment it arrives.
  auto reply = std::make_shared<Reply>(ex);
  reply->current = first.get();
  asio::co_spawn(ex, read_reply(first, reply), asio::detached);
  Link active{std::move(chosen), nullptr,      reply,        cancellation, !features.prefix_hash,
              std::nullopt,      std::nullopt, std::nullopt, {},           features.relay_udp};
  active.race = active.here.race;
  if (features.pipe_trial) active.choice.emplace(std::chrono::steady_clock::now());
  ProgressClock clock;
  std::uint64_t sent = 0;
  std::uint64_t carried_from = 0;
  const std::uint64_t total = offer.total_bytes();
  proto::Result<void> outcome;
  if (offer.kind == proto::Offer::Kind::files) {
    if (accept->start_offsets.size() != offer.entries.size()) {
      co_return proto::fail(Errc::protocol, "the receiver's answer does not fit the offer");
    }
    for (std::size_t i = 0; i < offer.entries.size(); ++i) {
      if (accept->start_offsets[i] > offer.entries[i].size) {
        co_return proto::fail(Errc::protocol, "the receiver asked to resume past a file's end");
      }
      carried_from += accept->start_offsets[i];
    }
    if (carried_from > 0) observer.on_event(event::Resumed{carried_from});
    sent = carried_from;
    for (std::uint32_t i = 0; i < offer.entries.size() && outcome; ++i) {
      if (offer.entries[i].kind != proto::OfferEntry::Kind::file) continue;
      outcome = co_await send_file(active, source, i, accept->start_offsets[i], sent, total, clock,
                                   observer);
    }
  }
  if (race) race->stop();  // no more moves: close what is still trying
  // Ctrl-C: the cancellation owns the pipe now and is telling the receiver.
  if (!outcome && outcome.error().code == Errc::interrupted) co_return outcome;
  RecordPipe& last = active.pipe();
  if (outcome) {
    const proto::PipeMessage done = msg::Done{};
    outcome = co_await last.send(done, true);
  } else if (outcome.error().code != Errc::peer_gone && outcome.error().code != Errc::relay_limit) {
    // Our own failure (a file changed, a read failed): tell the receiver why. (A pipe that broke
    // or that the relay ended carries nothing more.)
    const proto::PipeMessage abort =
        msg::Abort{std::string(proto::errc_name(outcome.error().code)), outcome.error().detail};
    // Closed once the receiver closes (its reader sees that) or the grace passes: a QUIC pipe
    // closed at once would lose the abort with its packet. (No close_gracefully: it would read
    // beside the reply's reader.)
    if (co_await last.send(abort, true)) co_await reply->wait(kAbortGrace);
    last.close();
    co_return outcome;
  }
  // A failed write is usually explained by what the receiver said just before closing.
  const auto ack = co_await reply->wait(outcome ? kAckTimeout : kAbortGrace);
  if (ack && *ack) {
    if (const auto* a = std::get_if<msg::Abort>(&**ack)) {
      co_return std::unexpected(proto::abort_error(*a, "the receiver"));
    }
  }
  // A relay that ended the session says why; that beats our broken write.
  if (!outcome && ack && !*ack && (*ack).error().code == Errc::relay_limit) {
    co_return std::unexpected((*ack).error());
  }
  if (!outcome) co_return outcome;
  if (!ack || !*ack)
    co_return proto::fail(Errc::peer_gone, "the receiver went away before confirming the transfer");
  if (!std::holds_alternative<msg::Ack>(**ack))
    co_return proto::fail(Errc::protocol, "the receiver did not confirm");
  observer.on_event(event::Progress{sent, total, clock.seconds()});
  observer.on_event(event::Done{sent - carried_from, total, clock.seconds(), offer.file_count()});
  last.close();
  co_return proto::Result<void>{};
}

}  // namespace ferry::session
