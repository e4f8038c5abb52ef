// One whole transfer, from either side: rendezvous, PAKE, path race, then the offer/accept/chunks
// exchange on the chosen pipe. These are the entry points the CLI (and tests) drive.
#pragma once

#include <filesystem>
#include <optional>

#include <functional>

#include "net/asio.hpp"
#include "net/record_pipe.hpp"
#include "proto/code.hpp"
#include "proto/peer_message.hpp"
#include "proto/server_url.hpp"
#include "session/cancellation.hpp"
#include "session/file_source.hpp"
#include "session/observer.hpp"
#include "session/pipe_race.hpp"

namespace ferry::session {

struct SendOptions {
  proto::ServerUrl server;
  std::optional<proto::Secret> code;     // chosen by the sender (--code); random otherwise
  bool force_relay = false;              // offer no direct candidates
  bool no_tcp = false;                   // no direct TCP (FERRY_NO_TCP=1, for diagnosis)
  bool no_udp = false;                   // no UDP hole punching (FERRY_NO_UDP=1, for diagnosis)
  Cancellation* cancellation = nullptr;  // where a Ctrl-C finds the pipe to tell the peer on
  bool no_relay_tcp = false;             // FERRY_NO_RELAY_TCP=1, for diagnosis
  bool no_relay_udp = false;             // FERRY_NO_RELAY_UDP=1, for diagnosis
  std::uint8_t tcp_connections = 0;      // FERRY_TCP_CONNECTIONS=n (proto::PathPolicy)
  // A group send: this many receivers, each in its own session (0: any number, until Ctrl-C or
  // `expire`). The code stays one guess: a wrong one ends the group.
  std::uint32_t receivers = 1;
  // A group send takes no new receivers after this long (0: no limit).
  std::chrono::seconds expire{0};
};

struct ReceiveOptions {
  proto::ServerUrl server;
  proto::Secret secret;
  std::filesystem::path output = ".";
  bool overwrite = false;
  bool rename = false;     // keep existing files, save new ones as "name (1).ext"
  bool to_stdout = false;  // -o -: one file or a text, written to stdout
  bool yes = false;
  // A nameplate no sender holds yet is waited for this long (the receiver started first).
  std::chrono::seconds wait{300};
  Cancellation* cancellation = nullptr;  // where a Ctrl-C finds the pipe to tell the peer on
  bool force_relay = false;              // ignore the sender's direct candidates
  bool no_tcp = false;                   // no direct TCP (FERRY_NO_TCP=1, for diagnosis)
  bool no_udp = false;                   // no UDP hole punching (FERRY_NO_UDP=1, for diagnosis)
  bool no_relay_tcp = false;             // FERRY_NO_RELAY_TCP=1, for diagnosis
  bool no_relay_udp = false;             // FERRY_NO_RELAY_UDP=1, for diagnosis
  std::uint8_t tcp_connections = 0;      // FERRY_TCP_CONNECTIONS=n (proto::PathPolicy)
};

net::awaitable<proto::Result<void>> send(const FileSource& source, SendOptions options,
                                         Observer& observer);
net::awaitable<proto::Result<void>> receive(ReceiveOptions options, Observer& observer);

class PipeRace;
class FileSink;
// Where the options say received bytes go: the output folder, or stdout.
proto::Result<FileSink> open_sink(const ReceiveOptions& options);
// The transfer itself, once a pipe is open (shared by the server-introduced and the serverless
// ways of meeting). first.race: where a better pipe may still come from (nullptr: none).
// first.features: what both sides agreed to use (none in the serverless modes, which exchange
// no notes).
// accepted: set once the receiver accepted the offer, if it is one that comes back after a break
// (Features::comeback: a break after it is worth waiting for).
net::awaitable<proto::Result<void>> send_over(ChosenPipe first, const FileSource& source,
                                              Observer& observer, Cancellation* cancellation,
                                              bool* accepted = nullptr);
// What a receive that broke off keeps for the same transfer's continuation (the sender's code
// came back): the offer as it came and as this side decided it (names kept apart, overwrites),
// so the continuation asks nothing again and writes where the first attempt did.
struct Continuation {
  std::optional<proto::Offer> offered;
  std::optional<proto::Offer> decided;
  bool accepted = false;  // the accept went out: part files may exist from here on
};
net::awaitable<proto::Result<void>> receive_over(ChosenPipe first, FileSink& sink,
                                                 const ReceiveOptions& options, Observer& observer,
                                                 std::function<void()> on_offer,
                                                 Continuation* continuation = nullptr);

// Decides, before anything is accepted, what happens to the offer here: files that exist already
// are overwritten, renamed or the offer is declined, as the options or the person say (asking the
// observer unless options.yes). Any failure means "decline"; nothing is written.
net::awaitable<proto::Result<void>> decide_offer(proto::Offer& offer, FileSink& sink,
                                                 const ReceiveOptions& options, Observer& observer);

// Timing of the phases, tuned so that a failure is reported within 15 s.
struct Budgets {
  static constexpr std::chrono::milliseconds kServerConnect{5000};
  static constexpr std::chrono::milliseconds kCandidates{10000};
  // The race's budgets and the relay's head start are the path plan's (proto/path_plan.hpp).
  // The mailbox lost (server gone): how long a pipe already being selected may still win.
  static constexpr std::chrono::milliseconds kMailboxLossGrace{2000};
  // Asking the router to map ports (UPnP-IGD, NAT-PMP): the answer comes in a second note.
  static constexpr std::chrono::milliseconds kPortMapping{1500};
  // After the relay won: how long direct attempts may still open for the transfer to move to.
  static constexpr std::chrono::milliseconds kUpgradeWindow{15000};
  // A browser page's WebRTC offer comes after the notes, once its candidates are gathered (its
  // STUN within a few round trips); ours are gathered meanwhile (the STUN wait of the UDP paths);
  // ICE, DTLS and SCTP then take a few round trips more.
  static constexpr std::chrono::milliseconds kWebRtcOffer{8000};
  static constexpr std::chrono::milliseconds kWebRtcConnect{10000};
};

}  // namespace ferry::session
