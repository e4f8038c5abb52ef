// Racing every way to reach the peer at once and keeping the first that authenticates. Each
// attempt (TCP to a peer candidate, an accepted connection, the relay) becomes a RecordPipe, says
// hello under the session keys, and is ready once the peer's hello decrypts. The receiver picks the
// first ready pipe and says "select" on it; the sender takes the pipe that carries "select". Every
// attempt and how it failed is recorded, so a failure can say what was tried.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "net/port_mapping.hpp"
#include "net/record_pipe.hpp"
#include "proto/peer_message.hpp"
#include "proto/server_url.hpp"
#include "session/handshake.hpp"

namespace ferry::session {

struct ChosenPipe {
  std::shared_ptr<net::RecordPipe> pipe;
  std::string path;               // "direct" or "relay"
  std::string peer;               // what it connects to
  std::string transport = "tcp";  // "tcp" or "quic"
  // When a relay won, the race goes on for a direct path to move to (take_upgrade()).
  std::shared_ptr<class PipeRace> race;
};

class UdpPaths;

// Stops a race (and every attempt still running) when the transfer ends, however it ends.
struct RaceStopper {
  std::shared_ptr<class PipeRace> race;
  std::shared_ptr<class UdpPaths> udp;
  ~RaceStopper();
};

class PipeRace : public std::enable_shared_from_this<PipeRace> {
 public:
  PipeRace(const net::asio::any_io_executor& ex, const SessionSecrets& secrets);

  // Listens on every local address; returns the candidates to offer the peer: each host address,
  // and the observed (public) address with the same port when it is not one of ours.
  proto::Result<proto::Candidates> listen(const std::string& observed);
  // Tries each of the peer's TCP candidates.
  void connect_to(const proto::Candidates& candidates);
  // Candidates the peer found later (ports its router mapped): TCP and UDP attempts join the race.
  void add_candidates(const proto::Candidates& more);
  std::uint16_t listen_port() const { return listen_port_; }
  // Keeps the router's port mappings for as long as the race (and the transfer) lives.
  void keep(std::shared_ptr<net::PortMapper> mapper) { mapper_ = std::move(mapper); }
  // Hole punching and QUIC toward the peer's UDP candidates (ours gathered by udp beforehand).
  void use_udp(std::shared_ptr<UdpPaths> udp, const proto::Candidates& theirs,
               std::chrono::milliseconds budget);
  // Both: the server's relay, after delay (gives direct paths a head start).
  void use_relay(const proto::ServerUrl& server, std::chrono::milliseconds delay);

  // Records a path that was not tried, and why, for the failure report.
  void note(std::string why) { tried_.push_back(std::move(why)); }
  // Ends the race early with an error (the peer gave up, or left).
  void fail(proto::Error error);

  // Waits for the winner, at most budget; then closes every other attempt, except that when the
  // relay won, direct attempts go on for up to upgrade_window.
  net::awaitable<proto::Result<ChosenPipe>> wait(std::chrono::milliseconds budget,
                                                 std::chrono::milliseconds upgrade_window);
  // A direct pipe that authenticated after the relay won (the receiver has selected it), once.
  std::optional<ChosenPipe> take_upgrade();
  // Ends the race and every attempt still running.
  void stop() { finish(); }
  // Runs what once the race is over (at once if it is): the mailbox stays open while a direct
  // path may still open after the relay won, for the ports routers map late.
  void on_finish(std::function<void()> what);

 private:
  net::awaitable<void> accept_loop(std::shared_ptr<PipeRace> self, std::size_t index);
  net::awaitable<void> connect_direct(std::shared_ptr<PipeRace> self, net::tcp::endpoint ep);
  // Dials from our listening port, so that two NATed peers dialling each other's public
  // address at once meet in a TCP simultaneous open.
  net::awaitable<void> connect_simultaneous(std::shared_ptr<PipeRace> self, net::tcp::endpoint ep);
  net::awaitable<void> connect_udp(std::shared_ptr<PipeRace> self, std::shared_ptr<UdpPaths> udp,
                                   proto::Candidates theirs, std::chrono::milliseconds budget);
  net::awaitable<void> connect_relay(std::shared_ptr<PipeRace> self, proto::ServerUrl server,
                                     std::chrono::milliseconds delay);
  // Hello exchange, then (receiver) claim the win or (sender) wait for select.
  // counted: the attempt is one of pending_ (we dialled it), not an accepted connection.
  net::awaitable<void> authenticate(std::shared_ptr<net::RecordPipe> pipe, std::string path,
                                    std::string peer, bool counted, std::string transport = "tcp");
  void attempt_failed(std::string what);
  void finish();
  bool over() const {
    return (winner_.pipe != nullptr && !upgrading_) || failure_.has_value() || finished_;
  }
  // Keeps pipe as the race's result: the winner, or (after a relay won) the direct upgrade.
  void claim(const std::shared_ptr<net::RecordPipe>& pipe, std::string path, std::string peer,
             std::string transport);

  net::asio::any_io_executor ex_;
  SessionSecrets secrets_;
  std::vector<net::tcp::acceptor> acceptors_;
  std::uint16_t listen_port_ = 0;
  std::vector<std::shared_ptr<net::RecordPipe>> live_;
  net::asio::steady_timer wake_;
  ChosenPipe winner_;
  std::optional<proto::Error> failure_;
  std::vector<std::string> tried_;
  std::shared_ptr<UdpPaths> udp_;
  std::shared_ptr<net::PortMapper> mapper_;
  std::function<void()> on_finish_;
  int pending_ = 0;
  bool finished_ = false;
  bool upgrading_ = false;
  std::optional<ChosenPipe> upgrade_;
};

}  // namespace ferry::session
