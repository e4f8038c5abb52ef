#include "cli/console.hpp"

#include <unistd.h>

#include <cctype>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/qr.hpp"
#include "proto/names.hpp"

namespace ferry::cli {

using nlohmann::json;
namespace event = session::event;
using proto::human_bytes;

std::string summarize_offer(const proto::Offer& offer, std::optional<std::size_t> said_files,
                            std::optional<std::uint64_t> said_bytes) {
  if (offer.kind == proto::Offer::Kind::text) return "a text message";
  std::size_t top = 0;
  std::string only;
  for (const auto& e : offer.entries) {
    if (e.path.find('/') == std::string::npos) {
      ++top;
      only =
          proto::display_name(e.path) + (e.kind == proto::OfferEntry::Kind::directory ? "/" : "");
    }
  }
  const std::size_t count = said_files.value_or(offer.file_count());
  const std::string files = std::to_string(count) + (count == 1 ? " file, " : " files, ");
  const std::string size = said_bytes              ? human_bytes(*said_bytes)
                           : !offer.has_streamed() ? human_bytes(offer.total_bytes())
                           : offer.total_bytes() == 0
                               ? std::string("size unknown: streamed")
                               : human_bytes(offer.total_bytes()) + " and a stream";
  return (top == 1 ? only : std::to_string(top) + " items") + " (" + files + size + ")";
}

std::string list_offer(const proto::Offer& offer) {
  std::string out;
  std::size_t shown = 0;
  for (const auto& e : offer.entries) {
    if (e.kind != proto::OfferEntry::Kind::file) continue;
    if (++shown > 10) {
      out += "\n    ... and " + std::to_string(offer.file_count() - 10) + " more files";
      break;
    }
    out += "\n    " + proto::display_name(e.path) + "  (" +
           (e.streamed ? std::string("streamed, size unknown") : human_bytes(e.size)) + ")";
  }
  return out;
}

namespace {
// Every string that reaches the terminal and may hold a peer's or a server's bytes goes through
// here: controls, terminal escapes, invalid UTF-8 and text-direction characters are escaped,
// newlines and tabs kept.
std::string safe(std::string_view text) {
  return proto::terminal_text(text);
}

std::string human_duration(std::chrono::seconds s) {
  if (s.count() % 3600 == 0 && s.count() >= 3600) return std::to_string(s.count() / 3600) + " h";
  if (s.count() % 60 == 0 && s.count() >= 60) return std::to_string(s.count() / 60) + " min";
  return std::to_string(s.count()) + " s";
}

std::string rate_text(double bytes, double seconds) {
  return seconds > 0 ? human_bytes(static_cast<std::uint64_t>(bytes / seconds)) + "/s" : "";
}
}  // namespace

std::unique_ptr<Console> Console::make(Role role, bool json) {
  if (json) return std::make_unique<JsonConsole>(role);
  return std::make_unique<TerminalConsole>(role);
}

namespace {

// What carries a direct pipe, in the words of the progress lines.
std::string_view transport_words(proto::PipeTransport t) {
  switch (t) {
    case proto::PipeTransport::tcp:
      return "TCP";
    case proto::PipeTransport::quic:
      return "QUIC over UDP";
    case proto::PipeTransport::webrtc:
      return "WebRTC data channel";
  }
  return "TCP";
}
// JSON lines for scripts, in ASCII: every control, C1 and text-direction character a peer or a
// server sent is a \u escape (harmless on a terminal too); invalid UTF-8 is replaced.
void emit_json(const json& event) {
  std::cout << event.dump(-1, ' ', true, json::error_handler_t::replace) << '\n' << std::flush;
}

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;  // clang 16 does not deduce aggregates yet
}  // namespace

namespace {
json event_json(const session::Event& ev) {
  return std::visit(
      Overloaded{
          [](const event::CodeReady& e) {
            return json{{"event", "code"},
                        {"code", e.code},
                        {"link", e.link},
                        {"server", e.server},
                        {"protocol", e.wormhole ? "wormhole" : "ferry"}};
          },
          [](const event::PeerJoined&) {
            return json{{"event", "peer"}};
          },
          [](const event::OfferReceived& e) {
            const auto& o = *e.offer;
            json entries = json::array();
            for (const auto& en : o.entries) {
              entries.push_back(
                  {{"path", en.path},
                   {"kind", en.kind == proto::OfferEntry::Kind::file ? "file" : "dir"},
                   {"size", en.size},
                   {"stream", en.streamed}});
            }
            return json{{"event", "offer"},
                        {"kind", o.kind == proto::Offer::Kind::text ? "text" : "files"},
                        {"files", e.files.value_or(o.file_count())},
                        {"bytes", e.bytes.value_or(o.total_bytes())},
                        {"entries", entries}};
          },
          [](const event::Connected& e) {
            return json{{"event", "connected"},
                        {"path", proto::path_kind_name(e.path)},
                        {"transport", proto::pipe_transport_name(e.transport)},
                        {"peer", e.peer},
                        {"moved", e.moved},
                        {"connections", e.connections},
                        {"carrier", e.carrier}};
          },
          [](const event::Progress& e) {
            return json{{"event", "progress"},
                        {"bytes", e.bytes},
                        {"total", e.total},
                        {"seconds", e.seconds}};
          },
          [](const event::Resumed& e) {
            return json{{"event", "resumed"}, {"bytes", e.bytes}};
          },
          [](const event::TextReceived& e) {
            return json{{"event", "text"}, {"text", e.text}};
          },
          [](const event::Done& e) {
            return json{{"event", "done"},
                        {"bytes", e.bytes},
                        {"total", e.total},
                        {"files", e.files},
                        {"seconds", e.seconds}};
          },
          [](const event::WaitingForSender& e) {
            return json{{"event", "waiting"}, {"seconds", e.limit.count()}};
          },
          [](const event::Note& e) {
            return json{{"event", "note"}, {"text", e.text}};
          },
      },
      ev);
}
}  // namespace

void JsonConsole::on_event(const session::Event& ev) {
  emit_json(event_json(ev));
}

void JsonConsole::on_receiver_event(std::size_t receiver, const session::Event& ev) {
  json j = event_json(ev);
  j["receiver"] = receiver;
  emit_json(j);
}

void JsonConsole::error(const proto::Error& e, const std::string& sentence) {
  emit_json(json{{"event", "error"}, {"code", proto::errc_name(e.code)}, {"message", sentence}});
  std::cerr << "ferry: " << safe(sentence) << "\n";
}

TerminalConsole::TerminalConsole(Role role) : TerminalConsole(role, ::isatty(STDERR_FILENO) == 1) {}
TerminalConsole::TerminalConsole(Role role, bool tty) : Console(role), tty_(tty) {}

void TerminalConsole::clear_progress() {
  if (progress_shown_) {
    std::cerr << "\r\033[K" << std::flush;
    progress_shown_ = false;
  }
}

void TerminalConsole::on_event(const session::Event& ev) {
  // Every line starts at the left, never after the progress bar ("ETA 15sMoved to …"); the
  // next progress event draws the bar again below it.
  if (!std::holds_alternative<event::Progress>(ev)) clear_progress();
  std::visit(
      Overloaded{
          [&](const event::CodeReady& e) {
            std::cout << "Sending " << (offer_ ? summarize_offer(*offer_) : std::string("files"))
                      << ". On the other computer run:\n    "
                      << (e.wormhole ? "wormhole receive " : "ferry receive ")
                      << (e.server.empty() ? "" : "--server " + safe(e.server) + " ")
                      << safe(e.code)
                      << (e.wormhole ? "\n(or ferry receive, or any magic-wormhole program)" : "")
                      << "\n";
            if (!e.link.empty()) std::cout << "or open:  " << safe(e.link) << "\n";
            if (qr_ && !e.link.empty()) std::cout << "or scan:\n" << qr_text(e.link);
            std::cout << std::flush;
          },
          [&](const event::PeerJoined&) {
            if (receiver_ != 0) {
              std::cerr << "Receiver " << receiver_ << " joined; checking the code...\n";
            } else {
              std::cerr << "Peer joined; checking the code...\n";
            }
          },
          [&](const event::OfferReceived& e) {
            const auto& o = *e.offer;
            received_text_ = o.kind == proto::Offer::Kind::text;
            if (o.kind == proto::Offer::Kind::files)
              std::cerr << "Offered: " << summarize_offer(o, e.files, e.bytes) << list_offer(o)
                        << "\n";
          },
          [&](const event::Connected& e) {
            std::cerr << who() << (e.moved ? "Moved to a better path (" : "Connected (")
                      << proto::path_kind_name(e.path) << ", "
                      << (!e.carrier.empty() ? e.carrier : transport_words(e.transport))
                      << (e.connections > 1
                              ? " on " + std::to_string(e.connections) + " connections"
                              : "")
                      << ", " << safe(e.peer) << ")\n";
          },
          [&](const event::Progress& e) { progress(e); },
          [&](const event::Resumed& e) {
            resumed_ = e.bytes;
            std::cerr << who() << "Resuming: " << human_bytes(e.bytes) << " already there.\n";
          },
          [](const event::TextReceived& e) { std::cout << safe(e.text) << "\n"
                                                       << std::flush; },
          [&](const event::Done& e) { done(e); },
          [](const event::WaitingForSender& e) {
            std::cerr << "No one is sending with this code yet; waiting up to "
                      << human_duration(e.limit) << " for the sender to start (Ctrl-C to stop).\n";
          },
          [&](const event::Note& e) { std::cerr << who() << safe(e.text) << "\n"; },
      },
      ev);
}

std::string TerminalConsole::who() const {
  return receiver_ == 0 ? std::string() : "Receiver " + std::to_string(receiver_) + ": ";
}

void TerminalConsole::on_receiver_event(std::size_t receiver, const session::Event& ev) {
  if (const auto* p = std::get_if<event::Progress>(&ev)) {
    group_progress_[receiver] = *p;
    return group_line();
  }
  if (std::holds_alternative<event::Done>(ev)) group_progress_.erase(receiver);
  receiver_ = receiver;
  on_event(ev);
  receiver_ = 0;
  if (!group_progress_.empty()) group_line();
}

// A group send's progress: each receiver's share, on one line.
void TerminalConsole::group_line() {
  if (!tty_) return;
  std::string line = "\r";
  double rate = 0;
  std::size_t shown = 0;
  for (const auto& [receiver, p] : group_progress_) {
    if (p.seconds > 0) rate += static_cast<double>(p.bytes) / p.seconds;
    if (++shown > 6) continue;
    const double frac =
        p.total > 0 ? static_cast<double>(p.bytes) / static_cast<double>(p.total) : 0;
    char part[48];
    std::snprintf(part, sizeof part, "#%zu %3.0f%%  ", receiver, frac * 100);
    line += part;
  }
  if (shown > 6) line += "+" + std::to_string(shown - 6) + " more  ";
  line += human_bytes(static_cast<std::uint64_t>(rate)) + "/s in all\033[K";
  std::cerr << line << std::flush;
  progress_shown_ = true;
}

void TerminalConsole::progress(const event::Progress& e) {
  if (!tty_) return;
  if (e.total == 0) {  // a stream: its size is known only at its end
    char line[96];
    std::snprintf(line, sizeof line, "\r%s  %s\033[K", human_bytes(e.bytes).c_str(),
                  rate_text(static_cast<double>(e.bytes), e.seconds).c_str());
    std::cerr << line << std::flush;
    progress_shown_ = true;
    return;
  }
  const double frac = static_cast<double>(e.bytes) / static_cast<double>(e.total);
  constexpr int kWidth = 24;
  const int filled = static_cast<int>(frac * kWidth);
  std::string bar(filled, '#');
  bar.resize(kWidth, '.');
  // Only this run's bytes count for the rate: what a resume found already there took no time.
  const double fresh = static_cast<double>(e.bytes - std::min(e.bytes, resumed_));
  const double rate = e.seconds > 0 ? fresh / e.seconds : 0;
  const double eta = rate > 0 ? static_cast<double>(e.total - e.bytes) / rate : 0;
  char line[160];
  std::snprintf(line, sizeof line, "\r[%s] %3.0f%%  %s  ETA %.0fs\033[K", bar.c_str(), frac * 100,
                rate_text(fresh, e.seconds).c_str(), std::ceil(eta));
  std::cerr << line << std::flush;
  progress_shown_ = true;
}

void TerminalConsole::done(const event::Done& e) {
  clear_progress();
  if (offer_ && offer_->kind == proto::Offer::Kind::text) {
    std::cerr << who() << "Text message delivered.\n";
    return;
  }
  if (received_text_) return;  // the text itself was the result
  const std::string where = folder_ == "-"
                                ? (e.files == 1 ? "; verified, written to stdout" : "")
                                : "; every file verified, saved in " + proto::display_name(folder_);
  std::cerr << who() << (role_ == Role::sender ? "Sent " : "Received ") << e.files
            << (e.files == 1 ? " file (" : " files (") << human_bytes(std::max(e.total, e.bytes))
            << ") in " << std::fixed << std::setprecision(1) << e.seconds << " s"
            << (e.bytes > 0 && e.seconds > 0
                    ? ", " + rate_text(static_cast<double>(e.bytes), e.seconds)
                    : "")
            << (e.bytes < e.total && e.bytes > 0
                    ? " (" + human_bytes(e.total - e.bytes) + " were already there)"
                    : "")
            << (role_ == Role::receiver ? where : "") << ".\n";
}

void TerminalConsole::error(const proto::Error&, const std::string& sentence) {
  clear_progress();
  std::cerr << "ferry: " << safe(sentence) << "\n";
}

std::optional<session::Answer> interpret_answer(std::string_view line, bool conflict) {
  using session::Answer;
  std::string word;
  for (const char c : line) {
    if (std::isspace(static_cast<unsigned char>(c)) == 0) {
      word.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
  }
  if (!conflict) {
    if (word == "y" || word == "yes") return Answer::accept;
    if (word == "n" || word == "no") return Answer::decline;
    return std::nullopt;
  }
  if (word == "o" || word == "overwrite") return Answer::overwrite;
  if (word == "r" || word == "rename" || word == "k" || word == "keep" || word == "keepboth") {
    return Answer::rename;
  }
  if (word == "c" || word == "cancel" || word == "n" || word == "no") return Answer::decline;
  return std::nullopt;
}

void Console::ask_accept(const proto::Offer&, const std::vector<std::string>& existing,
                         std::function<void(session::Answer)> answer) {
  using session::Answer;
  if (existing.empty()) {
    std::cerr << "Accept? [y/n] " << std::flush;
  } else {
    std::cerr << "\"" << proto::display_name(existing.front()) << "\""
              << (existing.size() > 1
                      ? " and " + std::to_string(existing.size() - 1) + " more already exist"
                      : " already exists")
              << " in " << proto::display_name(folder_) << ".\n"
              << "[o]verwrite, keep both ([r]ename the new ones), or [c]ancel? " << std::flush;
  }
  const bool conflict = !existing.empty();
  // An answer that is neither (Enter alone, a "y" where o, r or c is asked) asks again: declining
  // would use the code up. Only the end of input declines, and says why.
  std::thread([conflict, answer = std::move(answer)] {
    std::string line;
    for (;;) {
      if (!std::getline(std::cin, line)) {
        std::cerr << "\nNobody answered (the input ended): declined. ferry receive --yes accepts "
                     "without asking.\n";
        return answer(Answer::decline);
      }
      if (const auto a = interpret_answer(line, conflict)) return answer(*a);
      std::cerr << (conflict ? "Type o to overwrite, r to keep both (the new ones renamed), or c "
                               "to cancel: "
                             : "Type y to accept or n to decline: ")
                << std::flush;
    }
  }).detach();
}

}  // namespace ferry::cli
