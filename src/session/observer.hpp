// How a transfer reports to whoever drives it (the CLI's terminal or JSON output, tests): events as
// plain structs, and the one question a transfer asks a person (accept this offer?).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "proto/offer.hpp"
#include "proto/race.hpp"

namespace ferry::session {

namespace event {
struct CodeReady {
  std::string code;
  std::string link;
  bool wormhole = false;  // a magic-wormhole code: any wormhole program (or ferry) receives it
  // The ferry server the code lives on (empty: none, a LAN or serverless code): the receiver
  // must name it, or its ferry looks for the code on its own network.
  std::string server{};
};
struct PeerJoined {};
struct OfferReceived {
  const proto::Offer* offer;
  // What the sender says of a folder whose entries come later (a magic-wormhole folder, sent as
  // a zip): its file count and size, in place of the entries'.
  std::optional<std::size_t> files{};
  std::optional<std::uint64_t> bytes{};
};
struct Connected {
  proto::PathKind path = proto::PathKind::direct;
  proto::PipeTransport transport = proto::PipeTransport::tcp;
  std::string peer;             // address:port (or the relay's)
  bool moved = false;           // the transfer moved here from the relay
  std::size_t connections = 1;  // TCP connections carrying it (wide TCP: several)
  std::string carrier = {};     // to the relay: "TCP", "WebSocket" or "HTTPS requests"; else empty
};
struct Progress {
  std::uint64_t bytes;  // this run's payload bytes, resumed bytes included
  std::uint64_t total;
  double seconds;
};
struct Resumed {
  std::uint64_t bytes;  // already present from an earlier attempt
};
struct TextReceived {
  std::string text;
};
struct Done {
  std::uint64_t bytes;  // bytes carried in this run
  std::uint64_t total;  // size of everything offered
  double seconds;
  std::size_t files;
};
struct WaitingForSender {
  std::chrono::seconds limit;  // the receiver started first; it waits this long at most
};
struct Note {
  std::string text;  // something worth telling the person, not an error
};
}  // namespace event

using Event = std::variant<event::CodeReady, event::PeerJoined, event::OfferReceived,
                           event::Connected, event::Progress, event::Resumed, event::TextReceived,
                           event::Done, event::Note, event::WaitingForSender>;

// The person's answer to an offer.
enum class Answer { decline, accept, overwrite, rename };

class Observer {
 public:
  virtual ~Observer() = default;
  virtual void on_event(const Event& e) = 0;
  // A group send (`--receivers N`): an event of one receiver's session, numbered from 1 in the
  // order they joined. By default told like any other.
  virtual void on_receiver_event(std::size_t receiver, const Event& e) {
    (void)receiver;
    on_event(e);
  }
  // Ask whether to accept. `existing` lists offered files whose names exist here already: then
  // the choices are overwrite, rename and decline. Call answer exactly once, from any thread.
  virtual void ask_accept(const proto::Offer& offer, const std::vector<std::string>& existing,
                          std::function<void(Answer)> answer) = 0;
};

}  // namespace ferry::session
