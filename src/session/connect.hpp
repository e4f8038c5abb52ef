// Getting from a confirmed PAKE to one authenticated pipe: both sides listen and exchange their
// candidates through the mailbox, then race direct TCP both ways and the relay. Either side that
// finds no path tells the other why, so both report within the budget. The peer's candidates are
// tried only within `scope` (proto/candidate_scope.hpp): where the server saw the peer.
#pragma once

#include "proto/candidate_scope.hpp"
#include "proto/path_plan.hpp"
#include "proto/server_url.hpp"
#include "session/pipe_race.hpp"
#include "session/rendezvous_client.hpp"

namespace ferry::session {

// connect_time: how long reaching the rendezvous took, a measure of the round trips on this
// side's network (STUN's wait, the relay's head start on long links).
net::awaitable<proto::Result<ChosenPipe>> open_pipe(
    std::shared_ptr<Mailbox> mailbox, const SessionSecrets& secrets, const proto::ServerUrl& server,
    const proto::PathPolicy& policy, const proto::CandidateScope& scope,
    std::shared_ptr<UdpPaths> udp, std::chrono::steady_clock::duration connect_time);

// Starts gathering UDP candidates while the PAKE runs (nullptr when the policy rules UDP out).
std::shared_ptr<UdpPaths> start_udp(const net::asio::any_io_executor& ex,
                                    const proto::ServerUrl& server,
                                    const RendezvousClient& rendezvous, proto::Side side,
                                    const proto::PathPolicy& policy,
                                    std::chrono::steady_clock::duration connect_time);

// The user's flags as a path policy.
proto::PathPolicy path_policy(bool force_relay, bool no_tcp, bool no_udp, bool no_relay_tcp,
                              bool no_relay_udp);

}  // namespace ferry::session
