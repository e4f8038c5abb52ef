// Direct paths over UDP: hole punching, then QUIC on the punched socket. gather() opens our socket
// and asks the server's STUN (on two ports) for its public address, which also shows whether our
// NAT maps each destination to a new port. connect() carries out a proto::PunchSchedule (what to
// send when, the birthday method included) with authenticated probes, learns the peer's real
// address from its first probe (peer-reflexive), and opens QUIC on the first socket whose probe is
// answered; the receiver is the QUIC client and pins the sender's certificate.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "net/quic.hpp"
#include "proto/peer_message.hpp"
#include "proto/punch.hpp"
#include "proto/punch_schedule.hpp"
#include "proto/server_url.hpp"
#include "session/handshake.hpp"

namespace ferry::session {

struct UdpPipe {
  std::unique_ptr<net::ByteStream> stream;
  std::string peer;  // the peer's address on the punched path
};

class UdpPaths : public std::enable_shared_from_this<UdpPaths> {
 public:
  UdpPaths(const net::asio::any_io_executor& ex, proto::Side side);
  ~UdpPaths();

  // Opens our socket and, in the background, learns its public address from the server's STUN
  // (waiting at most stun_wait for answers), and, as the sender, makes our QUIC certificate.
  // Started early, it runs while the PAKE does.
  void start_gather(const proto::ServerUrl& server, std::vector<std::uint16_t> stun_ports,
                    std::chrono::milliseconds stun_wait);
  // Once gathering is done: adds our UDP candidates (and the sender's certificate fingerprint)
  // to out. notes() says what did not work.
  net::awaitable<void> add_candidates(proto::Candidates& out);
  // Punches toward the peer's UDP candidates and opens QUIC on the first path that answers.
  net::awaitable<proto::Result<UdpPipe>> connect(const SessionSecrets& secrets,
                                                 proto::PunchPlan plan,
                                                 std::chrono::milliseconds budget);
  // More of the peer's UDP candidates (a port its router mapped later), while connect() runs.
  void add_targets(const std::vector<proto::Candidate>& more);
  std::uint16_t local_port() const;
  // The sender's QUIC certificate, once gathering is done (add_candidates).
  std::shared_ptr<net::QuicIdentity> identity() const { return identity_; }
  // Ends every probe and socket that did not win.
  void stop();
  const std::vector<std::string>& notes() const { return notes_; }

 private:
  struct Socket;
  std::shared_ptr<Socket> add_socket(const net::udp::endpoint& bind_to);
  bool on_probe(const std::shared_ptr<Socket>& s, proto::ByteView d,
                const net::udp::endpoint& from);
  void on_quic(const std::shared_ptr<Socket>& s, proto::ByteView d, const net::udp::endpoint& from);
  void send_ping(Socket& s, const net::udp::endpoint& to);
  std::chrono::nanoseconds first_rtt() const;
  void start_quic(const std::shared_ptr<Socket>& s, const net::udp::endpoint& to);
  void use_quic(const std::shared_ptr<Socket>& s,
                proto::Result<std::shared_ptr<net::QuicConnection>> quic);

  net::awaitable<void> gather(proto::ServerUrl server, std::vector<std::uint16_t> stun_ports,
                              std::chrono::milliseconds stun_wait);

  net::asio::any_io_executor ex_;
  SessionSecrets secrets_;
  bool sender_;
  proto::Candidates gathered_;
  bool gathering_ = false;
  net::asio::steady_timer gathered_wake_;
  proto::ProbeNonce nonce_{};
  // What to probe when; its first answer's delay is an upper bound of the path's round trip,
  // QUIC's first estimate (its default, 333 ms, makes a lost handshake packet cost ~1 s).
  std::optional<proto::PunchSchedule> schedule_;
  std::vector<proto::Candidate> later_targets_;  // arrived before connect() began
  std::shared_ptr<Socket> main_;
  std::vector<std::shared_ptr<Socket>> sockets_;  // main_ (index 0) and the birthday sockets
  std::shared_ptr<net::QuicIdentity> identity_;   // the sender's (QUIC server's)
  proto::Bytes pinned_;                           // the receiver pins the sender's fingerprint
  proto::UdpMapping mapping_ = proto::UdpMapping::unknown;
  std::shared_ptr<net::QuicConnection> quic_;
  std::shared_ptr<Socket> quic_socket_;
  net::asio::steady_timer wake_;
  std::vector<std::string> notes_;
  std::string quic_failure_;
  bool stopped_ = false;
};

}  // namespace ferry::session
