// Which of a peer's candidates this side may send to. A peer names its own addresses, and a
// hostile one could name anyone's: a victim to flood with TCP dials and up to 20,000 UDP probes
// (the birthday method, proto/punch.hpp), or a host on this side's own network. So only addresses
// plausibly the peer's are tried: its address as the server saw it (public addresses must equal
// it; IPv6 within its /64), and private, loopback and link-local addresses only when both sides
// share one public address (the same NAT: the same network) or the server itself sees the peer
// at such an address (a server on the local network or this machine). Sans-I/O.
#pragma once

#include <string>
#include <vector>

#include "proto/peer_message.hpp"

namespace ferry::proto {

struct CandidateScope {
  std::string peer_observed;  // the peer's address as the server saw it ("" when not said)
  std::string my_observed;    // this side's, as the server saw it
};

// Whether this side may send to the candidate; when not, *why says so for the attempt list.
bool in_scope(const Candidate& c, const CandidateScope& scope, std::string* why = nullptr);

// Removes the candidates out of scope; returns one sentence per removed candidate.
std::vector<std::string> restrict_to_scope(std::vector<Candidate>& list,
                                           const CandidateScope& scope);

}  // namespace ferry::proto
