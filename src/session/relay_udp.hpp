// The relay over UDP, the client's side (proto/relay_udp.hpp): a fresh UDP socket binds to this
// side of the session at the relay with the grant (echoing the relay's cookie), waits for the
// peer to bind too, and then runs QUIC through the relay to the peer, as on a punched path: the
// receiver is the QUIC client and pins the sender's certificate. Where TCP to the relay runs
// CUBIC on a long, lossy path, QUIC's own congestion control keeps the transfer moving.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include "net/quic.hpp"
#include "proto/server_url.hpp"
#include "session/udp_paths.hpp"

namespace ferry::session {

struct RelayUdpTarget {
  proto::ServerUrl relay;  // its host; the port is `port`
  std::uint16_t port = 0;
  proto::Side side = proto::Side::sender;
  proto::Bytes grant;
  std::shared_ptr<net::QuicIdentity> identity;  // the sender's (the QUIC server's)
  proto::Bytes pinned;                          // the receiver pins the sender's certificate
};

// What the attempt is called in reports: "relay at <host>:<port> over QUIC/UDP".
std::string relay_udp_name(const RelayUdpTarget& t);

// Binds, waits for the peer (at most `wait`, and while `wanted` says so: another path may win
// first), opens QUIC through the relay.
net::awaitable<proto::Result<UdpPipe>> connect_relay_udp(RelayUdpTarget target,
                                                         std::chrono::milliseconds wait,
                                                         std::function<bool()> wanted);

}  // namespace ferry::session
