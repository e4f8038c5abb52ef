#include "session/wormhole.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>

#include <boost/asio/write.hpp>
#include <nlohmann/json.hpp>

#include "net/tcp.hpp"
#include "proto/code.hpp"
#include "proto/names.hpp"
#include "proto/transfer_state.hpp"
#include "session/file_sink.hpp"
#include "session/progress_clock.hpp"
#include "session/wormhole_mailbox.hpp"
#include "session/wormhole_transit.hpp"
#include "session/wormhole_zip.hpp"

namespace ferry::session {

using namespace net;
using proto::Errc;

namespace {

// Our transit relay, offered beside the ones the peer names.
std::vector<proto::TransitHint> with_own_relay(std::vector<proto::TransitHint> hints,
                                               const WormholeOptions& wormhole) {
  if (wormhole.transit_helper) {
    const proto::TransitHint own{wormhole.transit_helper->host, wormhole.transit_helper->port,
                                 true};
    if (std::none_of(hints.begin(), hints.end(), [&](const auto& h) {
          return h.relay && h.host == own.host && h.port == own.port;
        }))
      hints.push_back(own);
  }
  return hints;
}

std::vector<proto::TransitHint> own_relay_hints(const WormholeOptions& wormhole) {
  return with_own_relay({}, wormhole);
}

void report_connected(Observer& observer, const TransitConnection& c) {
  observer.on_event(event::Connected{
      .path = c.relay ? proto::PathKind::relay : proto::PathKind::direct, .peer = c.peer});
}

// What the receiver's mailbox conversation produced before any transit.
struct Agreement {
  std::vector<proto::TransitHint> hints;  // the sender's
  proto::WormholeOffer offer;
};

// Reads the sender's messages up to its offer, answering its transit hints with ours.
awaitable<proto::Result<Agreement>> read_offer(WormholeMailbox& mb,
                                               const WormholeOptions& wormhole) {
  Agreement out;
  bool answered_transit = false;
  for (;;) {
    auto m = co_await mb.receive();
    if (!m) co_return std::unexpected(m.error());
    if (m->transit && !answered_transit) {
      out.hints = *m->transit;
      answered_transit = true;
      const std::string transit = proto::wormhole_transit_message(own_relay_hints(wormhole));
      if (auto r = co_await mb.send(transit); !r) co_return std::unexpected(r.error());
    }
    if (m->offer) {
      out.offer = std::move(*m->offer);
      co_return out;
    }
  }
}

// Past the offer: the answer, then transit to the sender, then `size` bytes to `write`, then
// `finish` (writing the file into place) and the SHA-256 ack the sender waits for.
struct Delivery {
  std::uint64_t size = 0;
  std::function<proto::Result<void>(proto::ByteView)> write;
  std::function<proto::Result<void>()> finish;
};

awaitable<proto::Result<void>> deliver(WormholeMailbox& mb, const Agreement& agreed,
                                       const WormholeOptions& wormhole,
                                       const ReceiveOptions& options, const Delivery& delivery,
                                       Observer& observer) {
  const std::string ack_offer = proto::wormhole_answer("file_ack");
  if (auto r = co_await mb.send(ack_offer); !r) co_return r;
  std::vector<proto::TransitHint> hints = with_own_relay(agreed.hints, wormhole);
  if (options.force_relay)
    std::erase_if(hints, [](const proto::TransitHint& h) { return !h.relay; });
  const proto::WormholeKey transit_key = proto::wormhole_transit_key(mb.key());
  auto connected =
      co_await transit_connect(proto::TransitRole::receiver, hints, transit_key, nullptr);
  if (!connected) co_return std::unexpected(connected.error());
  report_connected(observer, *connected);
  auto& stream = connected->stream;
  proto::TransitRecords records(transit_key, proto::TransitRole::receiver);
  auto digest =
      co_await receive_transit_records(stream, records, delivery.size, delivery.write, observer);
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
  co_await mb.close(kMoodHappy);
  co_return proto::Result<void>{};
}

// Tells the sender no (only that: what is in this folder is none of its business).
awaitable<void> reject(WormholeMailbox& mb) {
  const std::string rejected = proto::wormhole_error("transfer rejected");
  co_await mb.send(rejected);
  co_await mb.close(kMoodErrory);
}

awaitable<proto::Result<void>> receive_file(WormholeMailbox& mb, const Agreement& agreed,
                                            const proto::FileOffer& file,
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
    co_await reject(mb);
    co_return std::unexpected(decided.error());
  }
  Delivery delivery{file.size, [&](proto::ByteView b) { return sink->write(b); },
                    [&] { return sink->commit(); }};
  auto r = co_await deliver(mb, agreed, wormhole, options, delivery, observer);
  if (!r) {
    sink->discard();  // wormhole cannot resume: a part file would only be in the way
    co_await mb.close(kMoodErrory);
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

awaitable<proto::Result<void>> receive_directory(WormholeMailbox& mb, const Agreement& agreed,
                                                 const proto::DirectoryOffer& dir,
                                                 const WormholeOptions& wormhole,
                                                 const ReceiveOptions& options,
                                                 Observer& observer) {
  // What the sender says before the zip arrives: a folder, its file count and size.
  proto::Offer shown_offer;
  shown_offer.kind = proto::Offer::Kind::files;
  shown_offer.entries.push_back({dir.name, proto::OfferEntry::Kind::directory, 0, false});
  observer.on_event(event::OfferReceived{&shown_offer, dir.files, dir.bytes});
  observer.on_event(event::Note{"(sent as a zip of " + proto::human_bytes(dir.zip_size) + ")"});
  proto::Result<void> decided = proto::Result<void>{};
  if (options.to_stdout)
    decided = proto::fail(Errc::usage,
                          "-o - writes one file to stdout, and this is a folder; "
                          "receive it into a folder instead");
  auto sink = open_sink(options);
  if (decided && !sink) decided = std::unexpected(sink.error());
  if (decided) decided = co_await decide_offer(shown_offer, *sink, options, observer);
  // The zip and the folder it becomes are on this file system at once: both must fit before a
  // byte is written (the sender's sizes; extraction holds it to them).
  if (decided) decided = sink->check_space(dir.zip_size + dir.bytes);
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
    co_await reject(mb);
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
      } else {
        // --rename, or --yes alone (which keeps both, as decide_offer says).
        if (auto r = sink->rename(*offer, *existing); !r) return r;
      }
    }
    if (auto r = sink->check_room(*offer, fresh); !r) return r;
    if (auto r = sink->make_folders(*offer); !r) return r;
    files = offer->file_count();
    return archive->extract(*offer, *sink);
  };
  const Delivery delivery{dir.zip_size, write, finish};
  auto r = co_await deliver(mb, agreed, wormhole, options, delivery, observer);
  if (!r) {
    co_await mb.close(kMoodErrory);
    co_return r;
  }
  observer.on_event(event::Done{dir.zip_size, dir.zip_size, 0.0, files});
  co_return r;
}

// What a wormhole sender offers, and where the bytes come from (a file, or the zip of a folder).
struct Outgoing {
  proto::WormholeOffer offer;
  std::uint64_t size = 0;
  int fd = -1;
  TempFile zip;
  Outgoing() = default;
  Outgoing(const Outgoing&) = delete;
  Outgoing& operator=(const Outgoing&) = delete;
  ~Outgoing() {
    if (fd >= 0 && fd != zip.fd) ::close(fd);
  }
};

// One file, one folder (as a zip) or a text: what a wormhole peer can take.
proto::Result<void> prepare(const FileSource& source, Outgoing& out) {
  const auto& offer = source.offer();
  if (offer.kind == proto::Offer::Kind::text) {
    out.offer = proto::TextOffer{offer.text};
    return {};
  }
  const auto& entries = offer.entries;
  if (offer.has_streamed())
    return proto::fail(Errc::usage,
                       "a wormhole peer needs the size first: save stdin to a file "
                       "and send that, or send it with ferry's own protocol");
  if (entries.size() == 1 && entries[0].kind == proto::OfferEntry::Kind::file) {
    out.fd = ::open(source.source(0).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (out.fd < 0)
      return proto::fail(Errc::io_error, "cannot read \"" + proto::display_name(entries[0].path) +
                                             "\": " + std::strerror(errno));
    out.offer = proto::FileOffer{entries[0].path, entries[0].size};
    out.size = entries[0].size;
    return {};
  }
  const std::string top = entries.empty() ? std::string() : entries[0].path;
  const bool one_folder = !entries.empty() &&
                          entries[0].kind == proto::OfferEntry::Kind::directory &&
                          std::all_of(entries.begin() + 1, entries.end(),
                                      [&](const auto& e) { return e.path.starts_with(top + "/"); });
  if (!one_folder)
    return proto::fail(Errc::usage,
                       "a wormhole transfer carries one file, one folder or a text: "
                       "put these in a folder and send that");
  // The zip is built before the code is shown, like wormhole's own sender, in the temporary
  // folder (removed when the transfer ends).
  const char* tmp = std::getenv("TMPDIR");
  std::string templ =
      std::string(tmp != nullptr && *tmp != 0 ? tmp : "/tmp") + "/ferry-wormhole-XXXXXX";
  out.zip.fd = ::mkstemp(templ.data());
  if (out.zip.fd < 0)
    return proto::fail(Errc::io_error,
                       std::string("cannot create the zip: ") + std::strerror(errno));
  out.zip.path = templ;
  auto summary = write_zip(source, top + "/", out.zip.path);
  if (!summary) return std::unexpected(summary.error());
  struct stat st {};
  if (::fstat(out.zip.fd, &st) != 0)
    return proto::fail(Errc::io_error, std::string("cannot read the zip: ") + std::strerror(errno));
  out.fd = out.zip.fd;
  out.size = static_cast<std::uint64_t>(st.st_size);
  out.offer = proto::DirectoryOffer{top, out.size, summary->bytes, summary->files};
  return {};
}

// The receiver's answer, taking its transit hints on the way.
awaitable<proto::Result<std::vector<proto::TransitHint>>> await_answer(WormholeMailbox& mb,
                                                                       std::string_view want) {
  std::vector<proto::TransitHint> hints;
  for (;;) {
    auto m = co_await mb.receive();
    if (!m) co_return std::unexpected(m.error());
    if (m->transit) hints = *m->transit;
    if (!m->answer) continue;
    if (*m->answer != want)
      co_return proto::fail(Errc::declined, "the wormhole receiver did not accept");
    co_return hints;
  }
}

awaitable<proto::Result<void>> send_bytes(WormholeMailbox& mb, Outgoing& out,
                                          const WormholeOptions& wormhole, bool force_relay,
                                          Observer& observer) {
  auto ex = co_await asio::this_coro::executor;
  std::optional<TransitListener> listener;
  std::vector<proto::TransitHint> mine;
  if (!force_relay) {
    auto l = TransitListener::open(ex);
    if (l) {
      listener.emplace(std::move(*l));
      mine = listener->hints();
    }
  }
  for (const auto& h : own_relay_hints(wormhole)) mine.push_back(h);
  const std::string transit = proto::wormhole_transit_message(mine);
  const std::string offer = proto::wormhole_offer(out.offer);
  if (auto r = co_await mb.send(transit); !r) co_return r;
  if (auto r = co_await mb.send(offer); !r) co_return r;
  auto theirs = co_await await_answer(mb, "file_ack");
  if (!theirs) co_return std::unexpected(theirs.error());
  std::vector<proto::TransitHint> hints = with_own_relay(*theirs, wormhole);
  if (force_relay) std::erase_if(hints, [](const proto::TransitHint& h) { return !h.relay; });
  const proto::WormholeKey transit_key = proto::wormhole_transit_key(mb.key());
  auto connected = co_await transit_connect(proto::TransitRole::sender, hints, transit_key,
                                            listener ? &*listener : nullptr);
  if (!connected) co_return std::unexpected(connected.error());
  report_connected(observer, *connected);
  ProgressClock clock;
  proto::TransitRecords records(transit_key, proto::TransitRole::sender);
  // A std::function, not a lambda converted inside the co_await (g++ 12: net/asio.hpp).
  const std::function<proto::Result<void>(std::span<std::uint8_t>)> read =
      [&](std::span<std::uint8_t> chunk) -> proto::Result<void> {
    for (std::size_t off = 0; off < chunk.size();) {
      const ssize_t n = ::read(out.fd, chunk.data() + off, chunk.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0)
        return proto::fail(Errc::io_error,
                           n == 0 ? std::string("the file got shorter while sending")
                                  : std::string("cannot read: ") + std::strerror(errno));
      off += static_cast<std::size_t>(n);
    }
    return {};
  };
  if (out.fd >= 0 && ::lseek(out.fd, 0, SEEK_SET) != 0)
    co_return proto::fail(Errc::io_error, std::string("cannot read: ") + std::strerror(errno));
  auto digest = co_await send_transit_records(connected->stream, records, out.size, read, observer);
  if (!digest) co_return std::unexpected(digest.error());
  auto ack = co_await receive_transit_record(connected->stream, records);
  if (!ack) {
    co_return proto::fail(Errc::peer_gone,
                          "the wormhole receiver got the bytes but never "
                          "confirmed them (" +
                              ack.error().detail + ")");
  }
  if (auto r = proto::check_wormhole_transit_ack(*ack, *digest); !r) co_return r;
  connected->stream.close();
  const std::size_t files =
      std::holds_alternative<proto::DirectoryOffer>(out.offer)
          ? static_cast<std::size_t>(std::get<proto::DirectoryOffer>(out.offer).files)
          : 1;
  observer.on_event(event::Done{out.size, out.size, clock.seconds(), files});
  co_return proto::Result<void>{};
}

}  // namespace

awaitable<proto::Result<void>> receive_wormhole(WormholeOptions wormhole, ReceiveOptions options,
                                                Observer& observer) {
  auto connected = co_await WormholeMailbox::connect(wormhole.mailbox);
  if (!connected) co_return std::unexpected(connected.error());
  WormholeMailbox& mb = **connected;
  // A sender that never comes: the receiver gives up after options.wait, like ferry's own.
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer watchdog(ex, options.wait);
  bool waited_out = false;
  watchdog.async_wait([&](const error_code& ec) {
    if (ec) return;
    waited_out = true;
    mb.abort();
  });
  auto confirmed = co_await mb.join(wormhole.code);
  if (confirmed) confirmed = co_await mb.confirm();
  watchdog.cancel();
  if (!confirmed) {
    if (waited_out)
      co_return proto::fail(Errc::no_sender, "no wormhole sender came with this code within " +
                                                 std::to_string(options.wait.count()) + " s");
    co_await mb.close(kMoodErrory);
    co_return confirmed;
  }
  co_await mb.release();
  observer.on_event(event::PeerJoined{});
  auto agreed = co_await read_offer(mb, wormhole);
  if (!agreed) {
    co_await mb.close(kMoodErrory);
    co_return std::unexpected(agreed.error());
  }
  if (const auto* text = std::get_if<proto::TextOffer>(&agreed->offer)) {
    proto::Offer offer;
    offer.kind = proto::Offer::Kind::text;
    offer.text = text->message;
    observer.on_event(event::OfferReceived{&offer});
    observer.on_event(event::TextReceived{text->message});
    const std::string ack_text = proto::wormhole_answer("message_ack");
    co_await mb.send(ack_text);
    co_await mb.close(kMoodHappy);
    observer.on_event(event::Done{text->message.size(), text->message.size(), 0.0, 0});
    co_return proto::Result<void>{};
  }
  if (const auto* file = std::get_if<proto::FileOffer>(&agreed->offer))
    co_return co_await receive_file(mb, *agreed, *file, wormhole, options, observer);
  const auto& dir = std::get<proto::DirectoryOffer>(agreed->offer);
  co_return co_await receive_directory(mb, *agreed, dir, wormhole, options, observer);
}

awaitable<proto::Result<void>> send_wormhole(WormholeOptions wormhole, const FileSource& source,
                                             bool force_relay, Observer& observer) {
  Outgoing out;
  if (auto r = prepare(source, out); !r) co_return r;
  auto connected = co_await WormholeMailbox::connect(wormhole.mailbox);
  if (!connected) co_return std::unexpected(connected.error());
  WormholeMailbox& mb = **connected;
  std::string code = wormhole.code;
  if (code.empty()) {
    auto nameplate = co_await mb.allocate();
    if (!nameplate) co_return std::unexpected(nameplate.error());
    proto::Bytes random(2);
    randombytes_buf(random.data(), random.size());
    code = proto::make_wormhole_code(*nameplate, random);
  }
  if (auto r = co_await mb.join(code); !r) co_return r;
  observer.on_event(event::CodeReady{code, "", true});
  if (auto r = co_await mb.confirm(); !r) {
    co_await mb.close(kMoodErrory);
    co_return r;
  }
  co_await mb.release();
  observer.on_event(event::PeerJoined{});
  proto::Result<void> r;
  if (std::holds_alternative<proto::TextOffer>(out.offer)) {
    const std::string offer = proto::wormhole_offer(out.offer);
    r = co_await mb.send(offer);
    if (r) {
      auto answer = co_await await_answer(mb, "message_ack");
      if (!answer) r = std::unexpected(answer.error());
    }
    if (r) {
      const auto n = std::get<proto::TextOffer>(out.offer).message.size();
      observer.on_event(event::Done{n, n, 0.0, 0});
    }
  } else {
    r = co_await send_bytes(mb, out, wormhole, force_relay, observer);
  }
  co_await mb.close(r ? kMoodHappy : kMoodErrory);
  co_return r;
}

}  // namespace ferry::session
