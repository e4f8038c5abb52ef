#include "session/wormhole.hpp"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <functional>
#include <map>

#include <sodium.h>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <nlohmann/json.hpp>

#include "net/tcp.hpp"
#include "net/websocket_client.hpp"
#include "proto/names.hpp"
#include "proto/transfer_state.hpp"
#include "proto/wormhole_crypto.hpp"
#include "session/file_sink.hpp"
#include "session/progress_clock.hpp"
#include "session/wormhole_zip.hpp"

namespace ferry::session {

using namespace net;
using proto::Errc;

namespace {

constexpr auto kTransitDeadline = std::chrono::seconds(30);
constexpr auto kHintConnect = std::chrono::seconds(10);
// A silent transit connection mid-transfer is given up on after this long.
constexpr auto kRecordStall = std::chrono::seconds(60);
// wormhole senders write 16 KiB records (Twisted's FileSender); a peer may not make us hold more
// than this for one.
constexpr std::uint32_t kMaxRecordBytes = 4u << 20;
constexpr std::size_t kMaxPeerPhases = 64;
// The moods a wormhole client leaves its mailbox in (the server counts them).
constexpr std::string_view kHappy = "happy";
constexpr std::string_view kErrory = "errory";
constexpr std::string_view kScary = "scary";

std::string random_hex(std::size_t bytes) {
  proto::Bytes b(bytes);
  randombytes_buf(b.data(), b.size());
  return proto::to_hex(b);
}

std::string shown(std::string_view text) {
  return proto::terminal_text(text.substr(0, 300));
}

// One side's mailbox conversation: the WebSocket, our side, and the phases we sent.
class Mailbox {
 public:
  Mailbox(std::unique_ptr<WebSocketClient> ws, std::string side)
      : ws_(std::move(ws)), side_(std::move(side)) {}

  const std::string& side() const { return side_; }
  WebSocketClient& ws() { return *ws_; }

  awaitable<proto::Result<void>> send(const std::string& frame) {
    co_return co_await ws_->send(frame);
  }

  // The next frame that matters: acks, the server's welcome and our own messages echoed back
  // are passed over; an error frame ends the conversation.
  awaitable<proto::Result<proto::MailboxFrame>> next() {
    for (;;) {
      auto text = co_await ws_->receive();
      if (!text) co_return std::unexpected(text.error());
      auto frame = proto::parse_mailbox_frame(*text);
      if (!frame) co_return std::unexpected(frame.error());
      switch (frame->event) {
        case proto::MailboxEvent::error:
          co_return proto::fail(Errc::server_error,
                                "the wormhole mailbox server said: " + shown(frame->error));
        case proto::MailboxEvent::welcome:
          if (!frame->error.empty())
            co_return proto::fail(Errc::server_error,
                                  "the wormhole mailbox server refused us: " + shown(frame->error));
          continue;
        case proto::MailboxEvent::ack:
        case proto::MailboxEvent::other:
          continue;
        case proto::MailboxEvent::message:
          if (frame->side == side_) continue;
          co_return frame;
        default:
          co_return frame;
      }
    }
  }

  // The next application message, sealed under our phase key.
  awaitable<proto::Result<void>> send_app(const proto::WormholeKey& key, std::string_view json) {
    const std::string phase = std::to_string(next_phase_++);
    co_return co_await send_sealed(key, phase, json);
  }

  awaitable<proto::Result<void>> send_sealed(const proto::WormholeKey& key,
                                             const std::string& phase, std::string_view json) {
    proto::SecretboxNonce nonce{};
    randombytes_buf(nonce.data(), nonce.size());
    const proto::Bytes sealed = proto::wormhole_seal(proto::wormhole_phase_key(key, side_, phase),
                                                     proto::as_bytes(json), nonce);
    const std::string frame = proto::mailbox_add(phase, sealed);
    co_return co_await send(frame);
  }

  // Leaves the mailbox (mood: "happy", "errory", "scary"), waiting a moment for the server.
  awaitable<void> close(const std::string& mailbox, std::string_view mood) {
    if (closed_) co_return;
    closed_ = true;
    const std::string frame = proto::mailbox_close(mailbox, mood);
    if (co_await send(frame)) {
      auto ex = co_await asio::this_coro::executor;
      asio::steady_timer guard(ex, std::chrono::seconds(1));
      guard.async_wait([this](const error_code& ec) {
        if (!ec) ws_->close();
      });
      for (;;) {
        auto f = co_await next();
        if (!f || f->event == proto::MailboxEvent::closed) break;
      }
      guard.cancel();
    }
    ws_->close();
  }

 private:
  std::unique_ptr<WebSocketClient> ws_;
  std::string side_;
  std::uint64_t next_phase_ = 0;
  bool closed_ = false;
};

// What the mailbox conversation produced before any transit.
struct Agreement {
  proto::WormholeKey key{};
  std::vector<proto::TransitHint> hints;  // the sender's
  proto::WormholeOffer offer;
};

// Claims the code's nameplate, runs SPAKE2 and reads the sender's messages up to its offer.
awaitable<proto::Result<Agreement>> agree(Mailbox& mb, const std::string& code,
                                          const std::optional<proto::TransitHelper>& own_relay) {
  proto::Ed25519Scalar scalar{};
  crypto_core_ed25519_scalar_random(scalar.data());
  auto spake = proto::Spake2Symmetric::start(proto::as_bytes(code),
                                             proto::as_bytes(proto::kWormholeAppId), scalar);
  if (!spake) co_return std::unexpected(spake.error());
  const nlohmann::json pake = {{"pake_v1", proto::to_hex(spake->message())}};
  const std::string pake_frame = proto::mailbox_add("pake", proto::as_bytes(pake.dump()));
  if (auto r = co_await mb.send(pake_frame); !r) co_return std::unexpected(r.error());

  Agreement out;
  bool have_key = false;
  bool confirmed = false;
  bool answered_transit = false;
  std::map<std::uint64_t, proto::Bytes> pending;  // numbered phases that came early
  std::uint64_t next_phase = 0;
  std::string peer_side;
  for (std::size_t seen = 0;; ++seen) {
    if (seen > kMaxPeerPhases)
      co_return proto::fail(Errc::protocol, "the wormhole sender sent too many messages");
    auto frame = co_await mb.next();
    if (!frame) co_return std::unexpected(frame.error());
    if (frame->event != proto::MailboxEvent::message) continue;
    if (!peer_side.empty() && frame->side != peer_side)
      co_return proto::fail(Errc::protocol, "a third party wrote into the wormhole mailbox");
    if (frame->phase == "pake") {
      if (have_key) co_return proto::fail(Errc::protocol, "the wormhole sender sent SPAKE2 twice");
      const auto j = nlohmann::json::parse(frame->body.begin(), frame->body.end(), nullptr, false);
      const auto hex = j.is_object() && j.contains("pake_v1") && j["pake_v1"].is_string()
                           ? proto::from_hex(j["pake_v1"].get<std::string>())
                           : std::nullopt;
      if (!hex)
        co_return proto::fail(Errc::protocol, "the wormhole sender's SPAKE2 message is malformed");
      auto key = spake->finish(*hex);
      if (!key) co_return std::unexpected(key.error());
      out.key = *key;
      have_key = true;
      peer_side = frame->side;
      const std::string phase = "version";
      const std::string version = proto::wormhole_version_message();
      if (auto r = co_await mb.send_sealed(out.key, phase, version); !r)
        co_return std::unexpected(r.error());
      continue;
    }
    if (!have_key) co_return proto::fail(Errc::protocol, "the wormhole sender wrote before SPAKE2");
    if (frame->phase == "version") {
      const auto k = proto::wormhole_phase_key(out.key, frame->side, "version");
      if (!proto::wormhole_open(k, frame->body))
        co_return proto::fail(
            Errc::wrong_code,
            "the code is wrong (or was mistyped on the sender's side): the "
            "sender's first message does not open under it; nothing was received");
      confirmed = true;
      continue;
    }
    std::uint64_t number = 0;
    const auto [end, ec] =
        std::from_chars(frame->phase.data(), frame->phase.data() + frame->phase.size(), number);
    if (ec != std::errc() || end != frame->phase.data() + frame->phase.size())
      continue;  // phases this client does not use (dilation), as wormhole itself does
    if (!confirmed)
      co_return proto::fail(Errc::protocol, "the wormhole sender wrote before confirming the key");
    auto plain = proto::wormhole_open(proto::wormhole_phase_key(out.key, frame->side, frame->phase),
                                      frame->body);
    if (!plain) co_return proto::fail(Errc::protocol, "a wormhole message did not open");
    pending.emplace(number, std::move(*plain));
    // In phase order, as the sender numbered them.
    while (pending.contains(next_phase)) {
      const proto::Bytes body = std::move(pending[next_phase]);
      pending.erase(next_phase++);
      auto m = proto::parse_wormhole_app_message(body);
      if (!m) co_return std::unexpected(m.error());
      if (m->error)
        co_return proto::fail(Errc::declined, "the wormhole sender gave up: " + shown(*m->error));
      if (m->transit && !answered_transit) {
        out.hints = *m->transit;
        std::vector<proto::TransitHint> ours;
        if (own_relay) ours.push_back({own_relay->host, own_relay->port, true});
        answered_transit = true;
        const std::string transit = proto::wormhole_transit_message(ours);
        if (auto r = co_await mb.send_app(out.key, transit); !r)
          co_return std::unexpected(r.error());
      }
      if (m->offer) {
        out.offer = std::move(*m->offer);
        co_return out;
      }
    }
  }
}

// One transit connection, through its handshake to the sender's "go".
struct TransitAttempt {
  proto::TransitHint hint;
  std::string outcome;  // for the failure sentence
};

struct TransitRace {
  explicit TransitRace(const asio::any_io_executor& ex)
      : done(ex, std::chrono::steady_clock::now() + kTransitDeadline) {}
  asio::steady_timer done;
  std::optional<beast::tcp_stream> winner;
  proto::TransitHint winner_hint;
  std::vector<std::shared_ptr<beast::tcp_stream>> live;
  std::vector<TransitAttempt> attempts;
  std::size_t left = 0;
};

awaitable<proto::Result<void>> expect(beast::tcp_stream& s, std::string_view want) {
  std::string got(want.size(), '\0');
  error_code ec;
  co_await asio::async_read(s, asio::buffer(got), redirect(ec));
  if (ec) co_return proto::fail(Errc::peer_gone, describe(ec));
  if (got != want) co_return proto::fail(Errc::protocol, "a different handshake");
  co_return proto::Result<void>{};
}

// A relay may sit behind the environment's proxy; the sender's own addresses never do.
awaitable<proto::Result<beast::tcp_stream>> dial(const proto::TransitHint& hint) {
  if (hint.relay) co_return co_await connect_tcp(hint.host, hint.port, kHintConnect);
  co_return co_await connect_tcp_direct(hint.host, hint.port, kHintConnect);
}

awaitable<void> try_hint(std::shared_ptr<TransitRace> race, std::size_t index,
                         proto::WormholeKey transit_key, std::string relay_side) {
  const proto::TransitHint hint = race->attempts[index].hint;
  auto outcome = [&]() -> awaitable<proto::Result<std::shared_ptr<beast::tcp_stream>>> {
    auto stream = co_await dial(hint);
    if (!stream) co_return std::unexpected(stream.error());
    auto s = std::make_shared<beast::tcp_stream>(std::move(*stream));
    race->live.push_back(s);
    s->expires_after(kTransitDeadline);
    error_code ec;
    if (hint.relay) {
      const std::string line = proto::transit_relay_handshake(transit_key, relay_side);
      co_await asio::async_write(*s, asio::buffer(line), redirect(ec));
      if (ec) co_return proto::fail(Errc::peer_gone, describe(ec));
      if (auto r = co_await expect(*s, "ok\n"); !r) co_return std::unexpected(r.error());
    }
    const std::string mine = proto::transit_receiver_handshake(transit_key);
    co_await asio::async_write(*s, asio::buffer(mine), redirect(ec));
    if (ec) co_return proto::fail(Errc::peer_gone, describe(ec));
    const std::string theirs = proto::transit_sender_handshake(transit_key);
    if (auto r = co_await expect(*s, theirs); !r) co_return std::unexpected(r.error());
    // The sender says "go" on the one connection it keeps, "nevermind" on the others.
    if (auto r = co_await expect(*s, "go\n"); !r)
      co_return proto::fail(Errc::no_path, "the sender chose another connection");
    co_return s;
  };
  auto r = co_await outcome();
  if (r && !race->winner) {
    race->winner.emplace(std::move(**r));
    race->winner_hint = hint;
    race->done.cancel();
  } else if (!r) {
    race->attempts[index].outcome = r.error().detail;
  }
  if (--race->left == 0) race->done.cancel();
}

// Connects to every hint at once; the sender picks one.
awaitable<proto::Result<std::pair<beast::tcp_stream, proto::TransitHint>>> connect_transit(
    std::vector<proto::TransitHint> hints, const proto::WormholeKey& transit_key) {
  auto ex = co_await asio::this_coro::executor;
  auto race = std::make_shared<TransitRace>(ex);
  if (hints.empty())
    co_return proto::fail(Errc::no_path,
                          "the wormhole sender named no address to connect to and no transit "
                          "relay; give both sides a transit helper (--transit-helper)");
  for (auto& h : hints) race->attempts.push_back({h, "timed out"});
  race->left = hints.size();
  const std::string relay_side = random_hex(8);
  for (std::size_t i = 0; i < hints.size(); ++i)
    asio::co_spawn(ex, try_hint(race, i, transit_key, relay_side), asio::detached);
  error_code ec;
  co_await race->done.async_wait(redirect(ec));
  for (auto& s : race->live) s->close();
  if (!race->winner) {
    std::string tried;
    for (const auto& a : race->attempts)
      tried += (tried.empty() ? "" : "; ") + std::string(a.hint.relay ? "relay " : "") +
               shown(a.hint.host) + ":" + std::to_string(a.hint.port) + " (" + a.outcome + ")";
    co_return proto::fail(Errc::no_path,
                          "could not connect to the wormhole sender: tried " + tried);
  }
  co_return std::make_pair(std::move(*race->winner), race->winner_hint);
}

// The offered bytes, record by record, to `write`; returns their SHA-256 for the sender.
awaitable<proto::Result<std::string>> receive_records(
    beast::tcp_stream& s, proto::TransitRecords& records, std::uint64_t size,
    const std::function<proto::Result<void>(proto::ByteView)>& write, Observer& observer) {
  crypto_hash_sha256_state sha;
  crypto_hash_sha256_init(&sha);
  ProgressClock clock;
  std::uint64_t received = 0;
  proto::Bytes buf;
  while (received < size) {
    std::array<std::uint8_t, 4> len{};
    error_code ec;
    s.expires_after(kRecordStall);
    co_await asio::async_read(s, asio::buffer(len), redirect(ec));
    const std::uint32_t n = proto::read_u32(len.data());
    if (!ec && n > kMaxRecordBytes)
      co_return proto::fail(Errc::protocol, "the wormhole sender sent a record over 4 MiB");
    buf.resize(n);
    if (!ec) co_await asio::async_read(s, asio::buffer(buf), redirect(ec));
    if (ec)
      co_return proto::fail(Errc::peer_gone, "lost the wormhole sender mid-transfer (" +
                                                 describe(ec) + ") after " +
                                                 proto::human_bytes(received) + " of " +
                                                 proto::human_bytes(size) + "; nothing was kept");
    auto plain = records.open(buf);
    if (!plain) co_return std::unexpected(plain.error());
    if (plain->size() > size - received)
      co_return proto::fail(Errc::protocol, "the wormhole sender sent more than it offered");
    if (auto w = write(*plain); !w) co_return std::unexpected(w.error());
    crypto_hash_sha256_update(&sha, plain->data(), plain->size());
    received += plain->size();
    if (clock.due(received == size))
      observer.on_event(event::Progress{received, size, clock.seconds()});
  }
  std::array<std::uint8_t, crypto_hash_sha256_BYTES> digest{};
  crypto_hash_sha256_final(&sha, digest.data());
  co_return proto::to_hex(digest);
}

// Past the offer: the answer, then transit to the sender, then `size` bytes to `write`, then
// `finish` (writing the file into place) and the SHA-256 ack the sender waits for.
struct Delivery {
  std::uint64_t size = 0;
  std::function<proto::Result<void>(proto::ByteView)> write;
  std::function<proto::Result<void>()> finish;
};

awaitable<proto::Result<void>> deliver(Mailbox& mb, const std::string& mailbox_id,
                                       const Agreement& agreed, const WormholeOptions& wormhole,
                                       const ReceiveOptions& options, const Delivery& delivery,
                                       Observer& observer) {
  const std::string ack_offer = proto::wormhole_answer("file_ack");
  if (auto r = co_await mb.send_app(agreed.key, ack_offer); !r) co_return r;
  std::vector<proto::TransitHint> hints = agreed.hints;
  if (wormhole.transit_helper) {
    const proto::TransitHint own{wormhole.transit_helper->host, wormhole.transit_helper->port,
                                 true};
    if (std::none_of(hints.begin(), hints.end(), [&](const auto& h) {
          return h.relay && h.host == own.host && h.port == own.port;
        }))
      hints.push_back(own);
  }
  if (options.force_relay)
    std::erase_if(hints, [](const proto::TransitHint& h) { return !h.relay; });
  const proto::WormholeKey transit_key = proto::wormhole_transit_key(agreed.key);
  auto connected = co_await connect_transit(hints, transit_key);
  if (!connected) co_return std::unexpected(connected.error());
  auto& [stream, hint] = *connected;
  observer.on_event(event::Connected{hint.relay ? proto::PathKind::relay : proto::PathKind::direct,
                                     proto::PipeTransport::tcp,
                                     shown(hint.host) + ":" + std::to_string(hint.port)});
  ProgressClock clock;
  proto::TransitRecords records(transit_key, proto::TransitRole::receiver);
  auto digest = co_await receive_records(stream, records, delivery.size, delivery.write, observer);
  if (!digest) co_return std::unexpected(digest.error());
  const auto finished = delivery.finish();
  // The sender compares this hash with its own before it calls the transfer done; anything but
  // "ok" is a failure it reports (it waits for this record and nothing else). Only "rejected"
  // goes back, never why.
  const std::string ack_json =
      finished ? proto::wormhole_transit_ack(*digest) : proto::wormhole_transit_ack_refusal();
  const proto::Bytes ack = records.seal(proto::as_bytes(ack_json));
  error_code ec;
  co_await asio::async_write(stream, asio::buffer(ack), redirect(ec));
  stream.close();
  if (!finished) co_return finished;
  co_await mb.close(mailbox_id, kHappy);
  co_return proto::Result<void>{};
}

// Tells the sender no (only that: what is in this folder is none of its business).
awaitable<void> reject(Mailbox& mb, const std::string& mailbox_id, const Agreement& agreed) {
  const std::string rejected = proto::wormhole_error("transfer rejected");
  co_await mb.send_app(agreed.key, rejected);
  co_await mb.close(mailbox_id, kErrory);
}

awaitable<proto::Result<void>> receive_file(Mailbox& mb, const std::string& mailbox_id,
                                            const Agreement& agreed, const proto::FileOffer& file,
                                            const WormholeOptions& wormhole,
                                            const ReceiveOptions& options, Observer& observer) {
  proto::Offer offer;
  offer.kind = proto::Offer::Kind::files;
  offer.entries.push_back({file.name, proto::OfferEntry::Kind::file, file.size, false});
  observer.on_event(event::OfferReceived{&offer});
  auto sink = open_sink(options);
  if (!sink) co_return std::unexpected(sink.error());
  auto decided = co_await decide_offer(offer, *sink, options, observer);
  const std::vector<std::uint64_t> fresh(1, 0);  // wormhole has no resume
  if (decided && !options.to_stdout) decided = sink->check_room(offer, fresh);
  proto::ReceiveTracker tracker(offer, fresh, proto::HashScope::prefix);
  if (decided) decided = sink->begin(offer, 0, 0, tracker);
  if (!decided) {
    co_await reject(mb, mailbox_id, agreed);
    co_return std::unexpected(decided.error());
  }
  Delivery delivery{file.size, [&](proto::ByteView b) { return sink->write(b); },
                    [&] { return sink->commit(); }};
  auto r = co_await deliver(mb, mailbox_id, agreed, wormhole, options, delivery, observer);
  if (!r) {
    sink->discard();  // wormhole cannot resume: a part file would only be in the way
    co_await mb.close(mailbox_id, kErrory);
    co_return r;
  }
  observer.on_event(event::Done{file.size, file.size, 0.0, 1});
  co_return r;
}

// A file descriptor closed and its file removed when the scope ends.
struct TempFile {
  std::filesystem::path path;
  int fd = -1;
  TempFile() = default;
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    if (fd >= 0) ::close(fd);
    if (!path.empty()) ::unlink(path.c_str());
  }
};

awaitable<proto::Result<void>> receive_directory(Mailbox& mb, const std::string& mailbox_id,
                                                 const Agreement& agreed,
                                                 const proto::DirectoryOffer& dir,
                                                 const WormholeOptions& wormhole,
                                                 const ReceiveOptions& options,
                                                 Observer& observer) {
  // What the sender says before the zip arrives: a folder, its file count and size.
  proto::Offer shown_offer;
  shown_offer.kind = proto::Offer::Kind::files;
  shown_offer.entries.push_back({dir.name, proto::OfferEntry::Kind::directory, 0, false});
  observer.on_event(event::OfferReceived{&shown_offer});
  observer.on_event(event::Note{"a folder of " + std::to_string(dir.files) + " files, " +
                                proto::human_bytes(dir.bytes) + " (a zip of " +
                                proto::human_bytes(dir.zip_size) + " on the way)"});
  proto::Result<void> decided = proto::Result<void>{};
  if (options.to_stdout)
    decided = proto::fail(Errc::usage,
                          "-o - writes one file to stdout, and this is a folder; "
                          "receive it into a folder instead");
  auto sink = open_sink(options);
  if (decided && !sink) decided = std::unexpected(sink.error());
  if (decided) decided = co_await decide_offer(shown_offer, *sink, options, observer);
  // The zip waits beside the folder it becomes (same file system), hidden and removed after.
  TempFile zip;
  if (decided) {
    std::string templ = (sink->folder() / ".ferry-wormhole-XXXXXX").string();
    zip.fd = ::mkstemp(templ.data());
    if (zip.fd < 0)
      decided = proto::fail(Errc::io_error, "cannot create a temporary file in " +
                                                proto::display_name(sink->folder().string()) +
                                                ": " + std::strerror(errno));
    else
      zip.path = templ;
  }
  if (!decided) {
    co_await reject(mb, mailbox_id, agreed);
    co_return std::unexpected(decided.error());
  }
  const auto write = [&](proto::ByteView b) -> proto::Result<void> {
    for (std::size_t off = 0; off < b.size();) {
      const ssize_t n = ::write(zip.fd, b.data() + off, b.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0)
        return proto::fail(errno == ENOSPC ? Errc::disk_full : Errc::io_error,
                           std::string("cannot write the received zip: ") + std::strerror(errno));
      off += static_cast<std::size_t>(n);
    }
    return {};
  };
  std::size_t files = 0;
  const auto finish = [&]() -> proto::Result<void> {
    auto archive = ZipArchive::open(zip.path);
    if (!archive) return std::unexpected(archive.error());
    auto offer = archive->listing(dir.name, dir.files, dir.bytes);
    if (!offer) return std::unexpected(offer.error());
    const std::vector<std::uint64_t> fresh(offer->entries.size(), 0);
    auto existing = sink->conflicts(*offer);
    if (!existing) return std::unexpected(existing.error());
    if (!existing->empty()) {
      if (options.overwrite) {
        if (auto r = sink->allow_overwrite(*offer, *existing); !r) return r;
      } else if (options.rename) {
        if (auto r = sink->rename(*offer, *existing); !r) return r;
      } else {
        return std::unexpected(sink->check(*offer).error());
      }
    }
    if (auto r = sink->check_room(*offer, fresh); !r) return r;
    if (auto r = sink->make_folders(*offer); !r) return r;
    files = offer->file_count();
    return archive->extract(*offer, *sink);
  };
  const Delivery delivery{dir.zip_size, write, finish};
  auto r = co_await deliver(mb, mailbox_id, agreed, wormhole, options, delivery, observer);
  if (!r) {
    co_await mb.close(mailbox_id, kErrory);
    co_return r;
  }
  observer.on_event(event::Done{dir.zip_size, dir.zip_size, 0.0, files});
  co_return r;
}

}  // namespace

awaitable<proto::Result<void>> receive_wormhole(WormholeOptions wormhole, ReceiveOptions options,
                                                Observer& observer) {
  const auto nameplate = proto::wormhole_nameplate(wormhole.code);
  if (!nameplate)
    co_return proto::fail(Errc::usage,
                          "\"" + proto::display_name(wormhole.code) +
                              "\" is not a wormhole code (it looks like 7-guitarist-revenge)");
  auto ws = co_await WebSocketClient::connect(wormhole.mailbox.server, wormhole.mailbox.target,
                                              Budgets::kServerConnect);
  if (!ws)
    co_return proto::fail(
        Errc::server_unreachable,
        "cannot reach the wormhole mailbox server " + shown(wormhole.mailbox.server.host) + ":" +
            std::to_string(wormhole.mailbox.server.port) + ": " + ws.error().detail);
  Mailbox mb(std::move(*ws), random_hex(5));
  // A sender that never comes: the receiver gives up after options.wait, like ferry's own.
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer watchdog(ex, options.wait);
  bool waited_out = false;
  watchdog.async_wait([&](const error_code& ec) {
    if (ec) return;
    waited_out = true;
    mb.ws().close();
  });
  const auto bind = proto::mailbox_bind(proto::kWormholeAppId, mb.side());
  const auto claim = proto::mailbox_claim(*nameplate);
  if (auto r = co_await mb.send(bind); !r) co_return r;
  if (auto r = co_await mb.send(claim); !r) co_return r;
  std::string mailbox_id;
  while (mailbox_id.empty()) {
    auto f = co_await mb.next();
    if (!f) co_return std::unexpected(f.error());
    if (f->event == proto::MailboxEvent::claimed) mailbox_id = f->mailbox;
  }
  const std::string open = proto::mailbox_open(mailbox_id);
  if (auto r = co_await mb.send(open); !r) co_return r;
  auto agreed = co_await agree(mb, wormhole.code, wormhole.transit_helper);
  watchdog.cancel();
  if (!agreed) {
    if (waited_out)
      co_return proto::fail(Errc::no_sender, "no wormhole sender came with this code within " +
                                                 std::to_string(options.wait.count()) + " s");
    const std::string_view mood = agreed.error().code == Errc::wrong_code ? kScary : kErrory;
    co_await mb.close(mailbox_id, mood);
    co_return std::unexpected(agreed.error());
  }
  // The nameplate is no longer needed once both sides are in the mailbox.
  const std::string release = proto::mailbox_release(*nameplate);
  co_await mb.send(release);
  observer.on_event(event::PeerJoined{});
  if (const auto* text = std::get_if<proto::TextOffer>(&agreed->offer)) {
    proto::Offer offer;
    offer.kind = proto::Offer::Kind::text;
    offer.text = text->message;
    observer.on_event(event::OfferReceived{&offer});
    observer.on_event(event::TextReceived{text->message});
    const std::string ack_text = proto::wormhole_answer("message_ack");
    co_await mb.send_app(agreed->key, ack_text);
    co_await mb.close(mailbox_id, kHappy);
    observer.on_event(event::Done{text->message.size(), text->message.size(), 0.0, 0});
    co_return proto::Result<void>{};
  }
  if (const auto* file = std::get_if<proto::FileOffer>(&agreed->offer))
    co_return co_await receive_file(mb, mailbox_id, *agreed, *file, wormhole, options, observer);
  const auto& dir = std::get<proto::DirectoryOffer>(agreed->offer);
  co_return co_await receive_directory(mb, mailbox_id, *agreed, dir, wormhole, options, observer);
}

}  // namespace ferry::session
