// The race between paths to the peer, as a state machine without sockets or clocks: events in
// (an attempt began, connected, authenticated, was selected, failed; the peer gave up; time
// passed), decisions out (select this pipe or close it, start the relay now, the winner, give up
// with the list of what was tried). session/pipe_race carries out the I/O and reports back.
//
// The receiver chooses: the first pipe to authenticate wins and the receiver says "select" on it;
// the sender takes the pipe that carries "select". The relay starts when the plan says (a head
// start for direct paths), but not while a direct connection is authenticating: that path exists,
// and a relay started now could only win by a few milliseconds and cost relay bytes. When the
// relay wins while direct attempts still run, the race goes on ("upgrading") for a direct pipe to
// move the transfer to, for at most the upgrade window. Where both sides allow the trial
// (Features::pipe_trial), a pipe that won over TCP does the same for an attempt of the same path
// kind over QUIC still running (a punched path beside direct TCP, the relay over UDP beside the
// relay over TCP), and the other way round: the transfer tries it and keeps the one that moves
// more (proto/pipe_choice). One such trial per race; after a trial on the relay the race goes on
// for a direct pipe, which still beats both.
//
// Where the sender's TCP is loss-based (CUBIC: BBR not allowed to it) and the path is long, a
// TCP pipe that authenticates first is held for a moment (Verdict::hold) while a QUIC attempt of
// the same path kind still runs: a long lossy path takes CUBIC to a few percent of its rate, and
// the transfer would pay seconds on TCP before its trial moved it. If QUIC wins, the TCP pipe is
// closed, no trial: measured early (slow start, its buffers filling) such a TCP looks as fast as
// the link and collapses seconds later, after the trial kept it (the lab saw exactly that at
// 200 ms). If QUIC is late, TCP wins when the hold ends, and QUIC is its trial as always.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proto/error.hpp"
#include "proto/key_schedule.hpp"

namespace ferry::proto {

enum class PathKind : std::uint8_t { direct, relay };
// webrtc: a data channel to a browser page (net/webrtc.hpp).
enum class PipeTransport : std::uint8_t { tcp, quic, webrtc };
std::string_view path_kind_name(PathKind k);            // "direct", "relay"
std::string_view pipe_transport_name(PipeTransport t);  // "tcp", "quic", "webrtc"

// One line of the attempt report: what was tried (or not), and what came of it.
struct Tried {
  std::string what;
  std::string why;  // empty: `what` says it all
};
// "heading\n  - what: why\n  - …", the one format for people.
std::string format_tried(std::string_view heading, const std::vector<Tried>& tried);

using AttemptId = std::uint32_t;

class Race {
 public:
  using Clock = std::chrono::steady_clock;
  enum class Phase : std::uint8_t { racing, upgrading, over };
  enum class Verdict : std::uint8_t {
    select,  // receiver: say "select" on this pipe, then report select_sent / select_failed
    wait,    // sender: wait for the peer's "select" on it, then report selected()
    take,    // sender: this pipe is the winner (or the upgrade)
    close,   // close it: it lost (the reason is in the report)
    hold,    // receiver: keep it, say nothing yet; take_released() says what comes of it
  };

  static constexpr std::chrono::milliseconds kRelayHoldMax{1500};
  // A TCP pipe is held for QUIC only on a path at least this long (the hello's round trip): on a
  // LAN, CUBIC recovers from a loss in a few milliseconds.
  static constexpr std::chrono::milliseconds kLongRtt{10};
  // How long it is held: kHoldRtts of its round trips, within these bounds. In the lab QUIC
  // authenticates one round trip after TCP, more when a handshake packet is lost.
  static constexpr int kHoldRtts = 6;
  // Why a loss-based sender's TCP pipe on a long path is closed after QUIC won.
  static constexpr std::string_view kQuicKept =
      "QUIC kept: the sender's TCP is loss-based (CUBIC) and this path is long";
  static constexpr std::chrono::milliseconds kHoldMin{300};
  static constexpr std::chrono::milliseconds kHoldMax{2000};

  Race(Side side, std::chrono::milliseconds upgrade_window);

  // The race's budget, from now (until then it has no deadline: connections may already arrive).
  void set_budget(Clock::time_point now, std::chrono::milliseconds budget);

  // When the relay may start (from the plan); never called: no relay.
  void plan_relay(Clock::time_point at);
  // Whether connections may still arrive on our listening sockets.
  void set_listening(bool listening) { listening_ = listening; }

  // Whether a direct winner waits for a direct pipe of the other transport (both sides allow it).
  void allow_transport_trial(bool allow) { trial_ = allow; }
  // Receiver: the sender's TCP is loss-based, so a TCP pipe on a long path waits a moment for a
  // QUIC one, and is closed when QUIC wins (needs the trial: a TCP winner has QUIC as its trial).
  void prefer_quic(bool prefer) { prefer_quic_ = prefer; }

  // An attempt of ours (dialled) or a connection that arrived (accepted).
  AttemptId begin(PathKind path, bool dialled, PipeTransport transport = PipeTransport::tcp);
  // Its transport is up; the hellos are being exchanged.
  void connected(AttemptId id);
  // An accepted connection that turned out to be part of another attempt's pipe (a further
  // member of a wide TCP pipe): forgotten, with no line in the report.
  void joined(AttemptId id);
  // Its peer's hello verified, at now, rtt after its own went out. What to do with the pipe:
  // A losing pipe is reported as `what`: <why the race closed it>.
  Verdict authenticated(AttemptId id, const std::string& what, Clock::time_point now = {},
                        std::chrono::milliseconds rtt = {});
  // Receiver: held pipes the race has decided on since the last call, each with select (the
  // winner, or a pipe to move to) or close.
  std::vector<std::pair<AttemptId, Verdict>> take_released() {
    return std::exchange(released_, {});
  }
  // Whether a pipe is held.
  bool holding() const { return !held_.empty(); }
  // Sender: the peer said "select" on it; upgrade: it said so as a pipe to move to after the
  // winner (the caller waits for the winner first: Select::upgrade).
  Verdict selected(AttemptId id, const std::string& what, bool upgrade = false);
  // Receiver: "select" went out on the winner, or could not be sent.
  void select_failed(AttemptId id, const Tried& line);
  // It failed or was closed; the line goes into the report.
  void failed(AttemptId id, Tried line);
  // A path not tried, and why (for the report).
  void note(Tried line) { tried_.push_back(std::move(line)); }
  // The peer gave up, or the mailbox went away: ends the race unless a pipe already won.
  void peer_failed(Error error);
  // Ends the race now (the transfer is over, or the caller stops).
  void stop();

  // Time passed. True when the relay should start now (once).
  bool start_relay_due(Clock::time_point now);
  // Applies the deadlines (budget, upgrade window); returns the phase after.
  Phase advance(Clock::time_point now);
  Clock::time_point next_wakeup() const;

  Phase phase() const { return phase_; }
  // Whether wait() may return: a winner, a failure, or nothing left to wait for.
  bool decided() const { return phase_ != Phase::racing || winner_.has_value(); }
  std::optional<AttemptId> winner() const { return winner_; }
  // Pipes the transfer may move to after the winner, in the order they were claimed: a direct
  // one after the relay, or one of the other transport.
  const std::vector<AttemptId>& upgrades() const { return upgrades_; }
  bool is_upgrade(AttemptId id) const;
  // The error to report when there is no winner: the peer's, or the attempt list.
  Error failure() const;
  const std::vector<Tried>& tried() const { return tried_; }
  PathKind path_of(AttemptId id) const { return attempts_.at(id).path; }
  PipeTransport transport_of(AttemptId id) const { return attempts_.at(id).transport; }
  bool relay_started() const { return relay_started_; }

 private:
  enum class State : std::uint8_t { running, connected, done };
  struct Attempt {
    PathKind path;
    bool dialled;
    PipeTransport transport;
    State state = State::running;
  };
  // Dialled attempts still running (of one path kind and maybe one transport, or all with the
  // planned relay).
  int pending() const;
  int pending(PathKind path, std::optional<PipeTransport> transport = std::nullopt) const;
  // Whether, after the winner, this attempt is worth moving the transfer to: any direct one
  // after the relay; one of the other transport after a direct winner.
  bool upgrades_winner(const Attempt& a) const;
  // Whether this attempt may be taken now as a pipe to move to.
  bool may_upgrade(const Attempt& a) const;
  bool direct_authenticating() const;
  // A TCP pipe from a loss-based sender on a long path (prefer_quic).
  bool loss_based_on_long_path(const Attempt& a, std::chrono::milliseconds rtt) const;
  bool should_hold(const Attempt& a, std::chrono::milliseconds rtt) const;
  // With a winner: whether it is QUIC of a's path kind.
  bool quic_won_path_of(const Attempt& a) const;
  // With a winner: whether it is QUIC of the same path kind and a is such a TCP pipe.
  bool quic_kept_over(const Attempt& a, std::chrono::milliseconds rtt) const;
  // Decides on held pipes: once a pipe won (a trial, or closed), or when the hold ended or no
  // QUIC attempt is left (the first held wins).
  void resolve_held(Clock::time_point now);
  void claim(AttemptId id);
  void claim_upgrade(AttemptId id);

  Side side_;
  Clock::time_point deadline_ = Clock::time_point::max();
  std::chrono::milliseconds budget_{0};
  std::chrono::milliseconds upgrade_window_;
  std::optional<Clock::time_point> upgrade_until_;
  std::optional<Clock::time_point> relay_at_;
  bool relay_started_ = false;
  bool listening_ = false;
  bool trial_ = false;
  std::map<AttemptId, Attempt> attempts_;
  AttemptId next_id_ = 1;
  Phase phase_ = Phase::racing;
  std::optional<AttemptId> winner_;
  std::vector<AttemptId> upgrades_;
  bool trial_taken_ = false;
  bool prefer_quic_ = false;
  struct Held {
    AttemptId id;
    std::string what;
  };
  std::vector<Held> held_;
  Clock::time_point hold_until_{};
  std::vector<std::pair<AttemptId, Verdict>> released_;
  std::optional<Error> failure_;
  std::vector<Tried> tried_;
};

}  // namespace ferry::proto
