// STUN (RFC 8489, with RFC 5780's behaviour-discovery attributes and RFC 3489's classic form) as a
// pure codec: Binding requests and responses, the address attributes, CHANGE-REQUEST, SOFTWARE,
// FINGERPRINT and short/long-term MESSAGE-INTEGRITY checks. Checked against RFC 5769's vectors.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "proto/bytes.hpp"
#include "proto/error.hpp"

namespace ferry::proto {

inline constexpr std::uint32_t kStunMagicCookie = 0x2112A442;
inline constexpr std::uint16_t kStunBindingRequest = 0x0001;
inline constexpr std::uint16_t kStunBindingSuccess = 0x0101;
inline constexpr std::uint16_t kStunBindingError = 0x0111;
inline constexpr std::uint32_t kStunChangeIp = 0x4;
inline constexpr std::uint32_t kStunChangePort = 0x2;
inline constexpr std::size_t kStunHeaderBytes = 20;

// An IP address and port as bytes (4 or 16), so the codec needs no socket types.
struct IpPort {
  Bytes ip;  // 4 bytes (IPv4) or 16 (IPv6)
  std::uint16_t port = 0;
  std::string to_string() const;
  bool operator==(const IpPort&) const = default;
};
// "a.b.c.d" or an IPv6 literal (no brackets); nullopt when it is neither.
std::optional<Bytes> parse_ip(std::string_view text);
// 127.0.0.0/8 (4 bytes) or ::1 (16 bytes).
bool is_loopback(const Bytes& ip);

using StunTransactionId = std::array<std::uint8_t, 12>;

struct StunMessage {
  std::uint16_t type = 0;
  StunTransactionId transaction{};
  // RFC 3489 messages have no magic cookie: their 16-byte id is the cookie field plus these 12.
  bool classic = false;
  std::array<std::uint8_t, 4> classic_id_prefix{};
  std::optional<IpPort> mapped;           // XOR-MAPPED-ADDRESS, else MAPPED-ADDRESS
  std::optional<IpPort> other_address;    // OTHER-ADDRESS, else CHANGED-ADDRESS
  std::optional<IpPort> response_origin;  // RESPONSE-ORIGIN, else SOURCE-ADDRESS
  std::uint32_t change_request = 0;       // kStunChangeIp | kStunChangePort
  std::optional<int> error_code;
  std::string software;
  std::string username;
  std::vector<std::uint16_t> unknown_required;  // comprehension-required types we do not know
  bool has_fingerprint = false;
  bool fingerprint_ok = false;
  // Offset of MESSAGE-INTEGRITY in the message, for check_message_integrity.
  std::optional<std::size_t> integrity_at;
};

// Whether a datagram looks like STUN at all (top two bits zero, sane length): how the one UDP
// socket tells STUN from other traffic.
bool looks_like_stun(ByteView datagram);
Result<StunMessage> decode_stun(ByteView datagram);

Bytes encode_binding_request(const StunTransactionId& id, std::uint32_t change_request = 0);

struct BindingResponse {
  StunTransactionId transaction{};
  bool classic = false;  // answer an RFC 3489 client in its own form
  std::array<std::uint8_t, 4> classic_id_prefix{};
  IpPort mapped;
  std::optional<IpPort> response_origin;
  std::optional<IpPort> other_address;
  std::string software = "ferry";
};
Bytes encode_binding_response(const BindingResponse& r);
// An error response (e.g. 420 for a CHANGE-REQUEST this server cannot honour).
Bytes encode_binding_error(const StunTransactionId& id, int code, std::string_view reason);

// MESSAGE-INTEGRITY (HMAC-SHA1) over the message up to the attribute, with the length field as
// if the attribute ended the message. Short-term key: the password; long-term: see below.
bool check_message_integrity(ByteView datagram, const StunMessage& m, ByteView key);
// MD5(username ":" realm ":" password), the long-term credential key.
Bytes long_term_key(std::string_view username, std::string_view realm, std::string_view password);

}  // namespace ferry::proto
