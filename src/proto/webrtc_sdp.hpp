// The part of a WebRTC session description (RFC 8866, RFC 8839, RFC 8841) that a data channel
// needs: ICE credentials and candidates, the DTLS certificate's fingerprint and role, and the SCTP
// port. A browser's offer is parsed into it and this side's answer written from it; both travel
// sealed under the session keys through the mailbox (proto/peer_message.hpp), so the fingerprint
// each side pins is the one its peer sent, never one the server chose. Everything else in an
// offer (media sections, extensions) is ignored. Sans-I/O.
#pragma once

#include <array>
#include <cctype>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proto/candidate_scope.hpp"
#include "proto/error.hpp"

namespace ferry::proto::webrtc {

// Bounds on what a peer may send: a browser's offer is about 1 KiB with a few candidates.
inline constexpr std::size_t kMaxDescription = std::size_t{16} * 1024;
inline constexpr std::size_t kMaxCandidates = 32;

enum class Setup : std::uint8_t { actpass, active, passive };

// One "a=candidate:" line, with what the candidate scope needs to judge it.
struct IceCandidate {
  std::string line;      // "candidate:…" as received (without "a=")
  std::string protocol;  // "udp" (others are dropped)
  std::string address;   // an IP literal, or a browser's mDNS name ("….local")
  std::uint16_t port = 0;
  std::string type;  // "host", "srflx", "prflx", "relay"
};

struct Description {
  std::string ufrag;
  std::string pwd;
  std::array<std::uint8_t, 32> fingerprint{};  // SHA-256 of the DTLS certificate
  Setup setup = Setup::actpass;
  std::string mid = "0";
  std::uint16_t sctp_port = 5000;
  std::uint32_t max_message_size = 65536;
  std::vector<IceCandidate> candidates;  // UDP only
};

// A peer's description; Errc::protocol naming what is missing or malformed.
Result<Description> parse_description(std::string_view sdp);

// This side's answer to an offer: one application section, its candidates, end-of-candidates.
// session_id: a number for the o= line.
std::string format_answer(const Description& d, std::uint64_t session_id);

// "AB:CD:…" (the a=fingerprint form) and back.
std::string fingerprint_text(const std::array<std::uint8_t, 32>& f);

// Parses one candidate line ("candidate:…" or "a=candidate:…"); nullopt when it is not one.
std::optional<IceCandidate> parse_candidate(std::string_view line);

// Whether this side may send connectivity checks to a browser's candidate: the CLI's own rule
// (proto/candidate_scope.hpp) for an IP literal; an mDNS name ("….local") or anything else is
// never checked (the browser's own checks reveal its address instead). When not, *why says so.
bool in_scope(const IceCandidate& c, const CandidateScope& scope, std::string* why = nullptr);

}  // namespace ferry::proto::webrtc
