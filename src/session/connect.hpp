// Getting from a confirmed PAKE to one authenticated pipe: both sides listen and exchange their
// candidates through the mailbox, then race direct TCP both ways and the relay. Either side that
// finds no path tells the other why, so both report within the budget. The peer's candidates are
// tried only within `scope` (proto/candidate_scope.hpp): where the server saw the peer.
#pragma once

#include "proto/candidate_scope.hpp"
#include "proto/server_url.hpp"
#include "session/pipe_race.hpp"
#include "session/rendezvous_client.hpp"

namespace ferry::session {

net::awaitable<proto::Result<ChosenPipe>> open_pipe(std::shared_ptr<Mailbox> mailbox,
                                                    const SessionSecrets& secrets,
                                                    const proto::ServerUrl& server,
                                                    bool force_relay, bool no_tcp,
                                                    const proto::CandidateScope& scope,
                                                    std::shared_ptr<UdpPaths> udp);

// Starts gathering UDP candidates while the PAKE runs (nullptr with force_relay). connect_time:
// how long reaching the rendezvous took, a measure of the round trip STUN needs.
std::shared_ptr<UdpPaths> start_udp(const net::asio::any_io_executor& ex,
                                    const proto::ServerUrl& server,
                                    const RendezvousClient& rendezvous, proto::Side side,
                                    bool force_relay,
                                    std::chrono::steady_clock::duration connect_time);

}  // namespace ferry::session
