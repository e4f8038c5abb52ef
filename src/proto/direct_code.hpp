// The code of a serverless transfer (ferry send --direct): everything the receiver needs in one
// token, since no server introduces the peers: the sender's addresses (LAN, and the public port its
// router mapped) and a 128-bit secret for the PAKE. "direct-" then base64url of: version 1 ‖
// secret(16) ‖ count ‖ per address: family (4 or 6) ‖ address bytes ‖ port (u16).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "proto/bytes.hpp"
#include "proto/code.hpp"
#include "proto/error.hpp"
#include "proto/stun.hpp"

namespace ferry::proto {

inline constexpr std::string_view kDirectCodePrefix = "direct-";
inline constexpr std::size_t kDirectMaxAddresses = 8;

struct DirectCode {
  Bytes secret;                   // 16 bytes
  std::vector<IpPort> addresses;  // where the sender listens (TCP)
};

std::string format_direct_code(const DirectCode& code);
bool looks_like_direct_code(std::string_view text);
Result<DirectCode> parse_direct_code(std::string_view text);
// The PAKE secret for it (a link-kind secret: 128 bits, one guess is hopeless).
Secret direct_secret(const DirectCode& code);
// CPace's session id for direct transfers: the secret is fresh for each one, so a constant does.
ByteView direct_session_id();

}  // namespace ferry::proto
