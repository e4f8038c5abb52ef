// Racing every way to reach the peer at once and keeping the first that authenticates: the I/O
// side of proto/race (the decisions) and proto/path_plan (the attempts). Each attempt (TCP to a
// peer candidate, an accepted connection, the punched UDP path, the relay) becomes a RecordPipe,
// says hello under the session keys, and reports to the race, which says whether to select,
// take or close it. Every attempt and how it failed is in the race's report.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "net/port_mapping.hpp"
#include "net/record_pipe.hpp"
#include "proto/candidate_scope.hpp"
#include "proto/path_plan.hpp"
#include "proto/peer_message.hpp"
#include "proto/race.hpp"
#include "proto/server_url.hpp"
#include "proto/stripe.hpp"
#include "session/handshake.hpp"
#include "session/observer.hpp"
#include "session/relay_udp.hpp"

namespace ferry::net::webrtc {
class Answerer;
}

namespace ferry::session {

struct ChosenPipe {
  std::shared_ptr<net::RecordPipe> pipe;
  proto::PathKind path = proto::PathKind::direct;
  std::string peer;  // what it connects to
  proto::PipeTransport transport = proto::PipeTransport::tcp;
  // When a relay won (or a direct pipe, with a pipe of the other transport still on its way),
  // the race goes on for a pipe to move to (take_upgrade()).
  std::shared_ptr<class PipeRace> race;
  // What both sides' notes offered beyond the first protocol.
  proto::Features features;
};

// What the person is told about the pipe the transfer runs on.
event::Connected connected_event(const ChosenPipe& c, bool moved = false);

class UdpPaths;

// Stops a race (and every attempt still running) when the transfer ends, however it ends.
struct RaceStopper {
  std::shared_ptr<class PipeRace> race;
  std::shared_ptr<class UdpPaths> udp;
  ~RaceStopper();
};

// A browser page that can open a WebRTC data channel (both notes name webrtc): it sends its offer
// after the notes, this side answers, and the channel races as a direct pipe.
struct WebRtcSetup {
  proto::CandidateScope scope;  // which of the browser's candidates may be checked
  // Sends this side's answer (sealed, through the mailbox).
  std::function<net::awaitable<void>(std::string sdp)> send_answer;
  // How long the answer waits for this side's public candidate (from the race's start): the
  // STUN wait of the UDP paths.
  std::chrono::milliseconds gather{0};
};

class PipeRace : public std::enable_shared_from_this<PipeRace> {
 public:
  // tcp_mss, when not 0, limits the segments of every TCP connection the race opens or accepts
  // (proto::PathPolicy::tcp_mss).
  PipeRace(const net::asio::any_io_executor& ex, const SessionSecrets& secrets,
           std::chrono::milliseconds upgrade_window, std::uint16_t tcp_mss = 0);

  // Listens on every local address; returns the candidates to offer the peer: each host address,
  // and the observed (public) address with the same port when it is not one of ours.
  proto::Result<proto::Candidates> listen(const std::string& observed);
  std::uint16_t listen_port() const { return listen_port_; }
  // What the notes agreed, for start().
  struct Agreed {
    // Every pipe's records use it; a connection accepted before start() waits for it.
    proto::RecordCipher cipher = proto::RecordCipher::xchacha20poly1305;
    // A direct winner waits, for the upgrade window, for a pipe of the other transport (TCP,
    // QUIC) that the transfer may try.
    bool transport_trial = false;
    // Where the relay over UDP runs, tried beside the TCP relay.
    std::optional<RelayUdpTarget> relay_udp;
    // The peer tells selects of pipes to move to from the winner's (both sides name relay-udp).
    bool tagged_select = false;
    // Receiver: the sender's TCP is loss-based; a TCP pipe on a long path waits a moment for a
    // QUIC one (proto::Race::prefer_quic).
    bool prefer_quic = false;
    // Both sides name wide-tcp: a direct TCP pipe we dial over a long path is several
    // connections (proto/stripe.hpp); tcp_connections, when not 0, says how many.
    bool wide_tcp = false;
    std::uint8_t tcp_connections = 0;
    // Set when the peer is a page that will offer a WebRTC data channel.
    std::optional<WebRtcSetup> webrtc;
  };
  // Starts what the plan says, from now: the TCP attempts, the punch on udp, the relay's timer.
  void start(const proto::PathPlan& plan, const proto::ServerUrl& server,
             std::shared_ptr<UdpPaths> udp, Agreed agreed);
  // Candidates the peer found later (ports its router mapped) join the race.
  void add_later(const proto::LaterAttempts& more);
  // The page's WebRTC offer (a WebRtcSignal through the mailbox): answered, and its channel
  // joins the race.
  void add_webrtc(const std::string& sdp);
  // Keeps the router's port mappings for as long as the race (and the transfer) lives.
  void keep(std::shared_ptr<net::PortMapper> mapper) { mapper_ = std::move(mapper); }

  // Records a path that was not tried, and why, for the failure report.
  void note(std::string why);
  // Ends the race early with an error (the peer gave up, or left).
  void fail(proto::Error error);

  // Waits for the winner; then closes every other attempt, except that when the relay won,
  // direct attempts go on for the upgrade window.
  net::awaitable<proto::Result<ChosenPipe>> wait();
  // What this side tried, for the peer's report.
  const std::vector<proto::Tried>& tried() const { return race_.tried(); }
  // A pipe that authenticated after the winner, the receiver having selected it: a direct one
  // after the relay, or one of the other transport (a trial); each once, in order.
  std::optional<ChosenPipe> take_upgrade();
  // Whether more pipes may still come from take_upgrade().
  bool upgrading() const { return !upgrades_.empty() || !finished_ || concluding_ > 0; }
  // Ends the race and every attempt still running.
  void stop() { finish(); }
  // Runs what once the race is over (at once if it is): the mailbox stays open while a direct
  // path may still open after the relay won, for the ports routers map late.
  void on_finish(std::function<void()> what);

 private:
  net::awaitable<void> accept_loop(std::shared_ptr<PipeRace> self, std::size_t index);
  // An accepted connection's first 24 bytes: a pipe's stream header (the pipe starts), or a wide
  // TCP member's preamble (the member joins its group).
  net::awaitable<void> accepted(std::shared_ptr<PipeRace> self, net::tcp::socket s,
                                net::asio::ip::address from);
  // A member's group is complete: its pipe starts. Otherwise it waits (gather_loop drops groups
  // not complete within stripe::kGatherWait).
  net::awaitable<void> join(net::beast::tcp_stream member, proto::stripe::Preamble p,
                            net::asio::ip::address from, std::string peer, proto::AttemptId id);
  net::awaitable<void> gather_loop(std::shared_ptr<PipeRace> self);
  // Accepted connections from (for all, when from is unset) that are no pipe yet.
  std::size_t arriving(const std::optional<net::asio::ip::address>& from) const;
  // How many connections a pipe dialled over this round trip uses (wide TCP), and those more
  // connections, each with its preamble written: those that connected within about two round
  // trips (the first one alone when none did).
  std::size_t connections_for(std::chrono::steady_clock::duration round_trip) const;
  net::awaitable<std::vector<net::tcp::socket>> widen(
      net::beast::tcp_stream first, net::tcp::endpoint ep, std::size_t n,
      std::chrono::steady_clock::duration round_trip);
  void connect_tcp_attempt(const proto::TcpAttempt& attempt);
  net::awaitable<void> connect_direct(std::shared_ptr<PipeRace> self, net::tcp::endpoint ep,
                                      proto::AttemptId id);
  // Dials from our listening port, so that two NATed peers dialling each other's public
  // address at once meet in a TCP simultaneous open.
  net::awaitable<void> connect_simultaneous(std::shared_ptr<PipeRace> self, net::tcp::endpoint ep,
                                            proto::AttemptId id);
  net::awaitable<void> connect_udp(std::shared_ptr<PipeRace> self, std::shared_ptr<UdpPaths> udp,
                                   proto::PunchPlan plan, std::chrono::milliseconds budget,
                                   proto::AttemptId id);
  net::awaitable<void> connect_relay(std::shared_ptr<PipeRace> self, proto::AttemptId id);
  net::awaitable<void> connect_relay_udp(std::shared_ptr<PipeRace> self, proto::AttemptId id);
  // The WebRTC attempt: gathers this side's candidates, waits for the page's offer
  // (kWebRtcOffer), answers, and opens the channel, which then authenticates like any pipe.
  net::awaitable<void> connect_webrtc(std::shared_ptr<PipeRace> self, proto::AttemptId id);
  // Hello exchange, then what the race says: select (receiver), wait for select (sender), close.
  net::awaitable<void> authenticate(std::shared_ptr<net::RecordPipe> pipe, proto::AttemptId id,
                                    std::string peer, proto::PipeTransport transport);
  // What follows a verdict other than hold: the pipe is closed, or taken (the winner, or a pipe
  // to move to), the receiver saying "select" on it.
  net::awaitable<void> conclude(std::shared_ptr<net::RecordPipe> pipe, proto::AttemptId id,
                                std::string peer, proto::PipeTransport transport,
                                proto::Race::Verdict verdict);
  // Held pipes the race decided on, each concluded (the waiter waits for their selects).
  void release_held();
  // Reports a failed attempt and wakes the waiter.
  void failed(proto::AttemptId id, std::string what, std::string why);
  // Time passed or something happened: starts the relay when due, applies the deadlines.
  void step();
  // The upgrade window after the relay won: steps until a direct pipe took over or time is up.
  net::awaitable<void> drive_upgrade(std::shared_ptr<PipeRace> self);
  void finish();
  bool over() const { return race_.phase() == proto::Race::Phase::over; }

  struct Live {
    std::shared_ptr<net::RecordPipe> pipe;
    std::string peer;
    proto::PipeTransport transport = proto::PipeTransport::tcp;
    std::optional<net::asio::ip::address> accepted_from;  // set for connections we accepted
  };

  net::asio::any_io_executor ex_;
  SessionSecrets secrets_;
  proto::Race race_;
  std::vector<net::tcp::acceptor> acceptors_;
  std::uint16_t listen_port_ = 0;
  std::map<proto::AttemptId, Live> live_;  // pipes open and not yet the winner
  std::function<void()> relay_cancel_;     // ends the relay's transports' race under way
  std::map<proto::AttemptId, Live> held_;  // authenticated, waiting for the race (Verdict::hold)
  std::vector<net::asio::ip::address> opening_;  // accepted, their first bytes awaited
  // Wide TCP groups being gathered: their members' sockets, tagged with the first one's attempt.
  proto::stripe::Gathering<net::tcp::socket, net::asio::ip::address> gathering_;
  net::asio::steady_timer gather_wake_;  // at the next group's deadline
  bool wide_tcp_ = false;
  std::uint8_t tcp_connections_ = 0;
  std::uint16_t tcp_mss_ = 0;
  int concluding_ = 0;  // held pipes released, their selects not yet sent
  std::optional<ChosenPipe> winner_;
  std::deque<ChosenPipe> upgrades_;
  std::optional<RelayUdpTarget> relay_udp_;
  bool relay_tcp_ = true;
  net::asio::steady_timer wake_;
  std::optional<proto::RecordCipher> cipher_;  // known once the notes are exchanged (start)
  net::asio::steady_timer started_;            // wakes pipes accepted before that
  net::asio::steady_timer decided_;            // wakes upgrades selected before the winner
  bool tagged_select_ = false;
  proto::ServerUrl server_;
  std::shared_ptr<UdpPaths> udp_;
  std::shared_ptr<net::PortMapper> mapper_;
  std::optional<WebRtcSetup> webrtc_;
  std::optional<proto::AttemptId> webrtc_id_;  // running, waiting for the page's offer
  net::asio::steady_timer webrtc_offer_;       // wakes connect_webrtc when the offer came
  std::string webrtc_sdp_;
  std::shared_ptr<net::webrtc::Answerer> webrtc_answerer_;  // until its channel opens
  std::function<void()> on_finish_;
  bool finished_ = false;
};

}  // namespace ferry::session
