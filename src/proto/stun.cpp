#include "proto/stun.hpp"

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cstring>

namespace ferry::proto {

namespace {
constexpr std::uint16_t kMappedAddress = 0x0001;
constexpr std::uint16_t kChangeRequest = 0x0003;
constexpr std::uint16_t kSourceAddress = 0x0004;
constexpr std::uint16_t kChangedAddress = 0x0005;
constexpr std::uint16_t kUsername = 0x0006;
constexpr std::uint16_t kMessageIntegrity = 0x0008;
constexpr std::uint16_t kErrorCode = 0x0009;
constexpr std::uint16_t kRealm = 0x0014;
constexpr std::uint16_t kNonce = 0x0015;
constexpr std::uint16_t kXorMappedAddress = 0x0020;
constexpr std::uint16_t kSoftware = 0x8022;
constexpr std::uint16_t kFingerprint = 0x8028;
constexpr std::uint16_t kResponseOrigin = 0x802B;
constexpr std::uint16_t kOtherAddress = 0x802C;
constexpr std::uint32_t kFingerprintXor = 0x5354554e;
constexpr std::size_t kMaxStunBytes = 1500;

std::uint32_t crc32(ByteView data) {
  std::uint32_t crc = 0xFFFFFFFFU;
  for (const std::uint8_t b : data) {
    crc ^= b;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320U & (0U - (crc & 1U)));
  }
  return ~crc;
}

void set_length(Bytes& msg) {
  const auto n = static_cast<std::uint16_t>(msg.size() - kStunHeaderBytes);
  msg[2] = static_cast<std::uint8_t>(n >> 8);
  msg[3] = static_cast<std::uint8_t>(n);
}

// The 16 bytes an XOR'd address is masked with: the cookie, then the transaction id.
std::array<std::uint8_t, 16> xor_mask(const StunTransactionId& id) {
  std::array<std::uint8_t, 16> mask{0x21, 0x12, 0xA4, 0x42};
  std::copy(id.begin(), id.end(), mask.begin() + 4);
  return mask;
}

std::optional<IpPort> decode_address(ByteView v, const StunTransactionId* xor_id) {
  if (v.size() < 4) return std::nullopt;
  const std::size_t len = v[1] == 0x01 ? 4 : v[1] == 0x02 ? 16 : 0;
  if (len == 0 || v.size() != 4 + len) return std::nullopt;
  IpPort a;
  a.port = read_u16(v.data() + 2);
  a.ip.assign(v.begin() + 4, v.end());
  if (xor_id != nullptr) {
    const auto mask = xor_mask(*xor_id);
    a.port ^= static_cast<std::uint16_t>(kStunMagicCookie >> 16);
    for (std::size_t i = 0; i < len; ++i) a.ip[i] ^= mask[i];
  }
  return a;
}

void append_attribute(Bytes& out, std::uint16_t type, ByteView value) {
  append_u16(out, type);
  append_u16(out, static_cast<std::uint16_t>(value.size()));
  append(out, value);
  while (out.size() % 4 != 0) out.push_back(0);
}

Bytes encode_address(const IpPort& a, const StunTransactionId* xor_id) {
  Bytes v{0, static_cast<std::uint8_t>(a.ip.size() == 16 ? 0x02 : 0x01)};
  Bytes ip = a.ip;
  std::uint16_t port = a.port;
  if (xor_id != nullptr) {
    const auto mask = xor_mask(*xor_id);
    port ^= static_cast<std::uint16_t>(kStunMagicCookie >> 16);
    for (std::size_t i = 0; i < ip.size(); ++i) ip[i] ^= mask[i];
  }
  append_u16(v, port);
  append(v, ip);
  return v;
}

Bytes header(std::uint16_t type, const StunTransactionId& id, bool classic,
             const std::array<std::uint8_t, 4>& classic_prefix) {
  Bytes out;
  append_u16(out, type);
  append_u16(out, 0);
  if (classic) {
    append(out, classic_prefix);
  } else {
    append_u32(out, kStunMagicCookie);
  }
  append(out, id);
  return out;
}

void append_fingerprint(Bytes& msg) {
  append_u16(msg, kFingerprint);
  append_u16(msg, 4);
  append_u32(msg, 0);
  set_length(msg);
  const std::uint32_t crc = crc32(ByteView(msg).first(msg.size() - 8)) ^ kFingerprintXor;
  msg.resize(msg.size() - 4);
  append_u32(msg, crc);
}
}  // namespace

std::string IpPort::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (ip.size() == 4) {
    inet_ntop(AF_INET, ip.data(), buf, sizeof buf);
    return std::string(buf) + ":" + std::to_string(port);
  }
  if (ip.size() == 16) {
    inet_ntop(AF_INET6, ip.data(), buf, sizeof buf);
    return "[" + std::string(buf) + "]:" + std::to_string(port);
  }
  return "?";
}

bool is_loopback(const Bytes& ip) {
  static const Bytes kLoopback6 = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return ip.size() == 4 ? ip[0] == 127 : ip == kLoopback6;
}

std::optional<Bytes> parse_ip(std::string_view text) {
  const std::string s(text);
  Bytes b(16);
  if (inet_pton(AF_INET, s.c_str(), b.data()) == 1) return Bytes(b.begin(), b.begin() + 4);
  if (inet_pton(AF_INET6, s.c_str(), b.data()) == 1) return b;
  return std::nullopt;
}

bool looks_like_stun(ByteView d) {
  return d.size() >= kStunHeaderBytes && d.size() <= kMaxStunBytes && (d[0] & 0xC0) == 0 &&
         read_u16(d.data() + 2) + kStunHeaderBytes == d.size() && d.size() % 4 == 0;
}

Result<StunMessage> decode_stun(ByteView d) {
  if (!looks_like_stun(d)) return fail(Errc::protocol, "not a STUN message");
  StunMessage m;
  m.type = read_u16(d.data());
  m.classic = read_u32(d.data() + 4) != kStunMagicCookie;
  if (m.classic) std::copy_n(d.begin() + 4, 4, m.classic_id_prefix.begin());
  std::copy_n(d.begin() + 8, 12, m.transaction.begin());
  bool after_integrity = false;
  for (std::size_t at = kStunHeaderBytes; at < d.size();) {
    if (d.size() - at < 4) return fail(Errc::protocol, "truncated STUN attribute");
    const std::uint16_t type = read_u16(d.data() + at);
    const std::uint16_t len = read_u16(d.data() + at + 2);
    const std::size_t padded = (len + 3U) & ~std::size_t{3};
    if (d.size() - at - 4 < padded) return fail(Errc::protocol, "truncated STUN attribute");
    const ByteView v = d.subspan(at + 4, len);
    if (m.has_fingerprint) return fail(Errc::protocol, "STUN attribute after FINGERPRINT");
    if (type == kFingerprint) {
      if (len != 4) return fail(Errc::protocol, "malformed FINGERPRINT");
      m.has_fingerprint = true;
      m.fingerprint_ok = (crc32(d.first(at)) ^ kFingerprintXor) == read_u32(v.data());
    } else if (after_integrity) {
      // RFC 8489: attributes after MESSAGE-INTEGRITY (but FINGERPRINT) are ignored.
    } else if (type == kMessageIntegrity) {
      if (len != 20) return fail(Errc::protocol, "malformed MESSAGE-INTEGRITY");
      m.integrity_at = at;
      after_integrity = true;
    } else if (type == kXorMappedAddress) {
      if (!m.classic) {  // (an RFC 3489 message has no cookie to unmask it with)
        m.mapped = decode_address(v, &m.transaction);
        if (!m.mapped) return fail(Errc::protocol, "malformed XOR-MAPPED-ADDRESS");
      }
    } else if (type == kMappedAddress || type == kChangedAddress || type == kSourceAddress ||
               type == kOtherAddress || type == kResponseOrigin) {
      auto a = decode_address(v, nullptr);
      if (!a) return fail(Errc::protocol, "malformed STUN address attribute");
      if (type == kMappedAddress && !m.mapped) m.mapped = a;
      if (type == kOtherAddress || (type == kChangedAddress && !m.other_address)) {
        m.other_address = a;
      }
      if (type == kResponseOrigin || (type == kSourceAddress && !m.response_origin)) {
        m.response_origin = a;
      }
    } else if (type == kChangeRequest) {
      if (len != 4) return fail(Errc::protocol, "malformed CHANGE-REQUEST");
      m.change_request = read_u32(v.data()) & (kStunChangeIp | kStunChangePort);
    } else if (type == kErrorCode) {
      if (len < 4) return fail(Errc::protocol, "malformed ERROR-CODE");
      m.error_code = (v[2] & 0x7) * 100 + v[3];
    } else if (type == kSoftware || type == kUsername) {
      if (len > 763) return fail(Errc::protocol, "STUN text attribute too long");
      (type == kSoftware ? m.software : m.username).assign(v.begin(), v.end());
    } else if (type == kRealm || type == kNonce) {
      if (len > 763) return fail(Errc::protocol, "STUN text attribute too long");
    } else if (type < 0x8000) {
      m.unknown_required.push_back(type);  // a server answers 420 (RFC 8489 section 6.3.1)
    }
    at += 4 + padded;
  }
  return m;
}

Bytes encode_binding_request(const StunTransactionId& id, std::uint32_t change_request) {
  Bytes out = header(kStunBindingRequest, id, false, {});
  if (change_request != 0) {
    Bytes v;
    append_u32(v, change_request);
    append_attribute(out, kChangeRequest, v);
  }
  append_fingerprint(out);
  return out;
}

Bytes encode_binding_response(const BindingResponse& r) {
  Bytes out = header(kStunBindingSuccess, r.transaction, r.classic, r.classic_id_prefix);
  if (r.classic) {
    append_attribute(out, kMappedAddress, encode_address(r.mapped, nullptr));
    if (r.response_origin) {
      append_attribute(out, kSourceAddress, encode_address(*r.response_origin, nullptr));
    }
    if (r.other_address) {
      append_attribute(out, kChangedAddress, encode_address(*r.other_address, nullptr));
    }
    set_length(out);
    return out;
  }
  append_attribute(out, kXorMappedAddress, encode_address(r.mapped, &r.transaction));
  // MAPPED-ADDRESS too, for old clients that know only it.
  append_attribute(out, kMappedAddress, encode_address(r.mapped, nullptr));
  if (r.response_origin) {
    append_attribute(out, kResponseOrigin, encode_address(*r.response_origin, nullptr));
  }
  if (r.other_address) {
    append_attribute(out, kOtherAddress, encode_address(*r.other_address, nullptr));
  }
  if (!r.software.empty()) append_attribute(out, kSoftware, as_bytes(r.software));
  append_fingerprint(out);
  return out;
}

Bytes encode_binding_error(const StunTransactionId& id, int code, std::string_view reason) {
  Bytes out = header(kStunBindingError, id, false, {});
  Bytes v{0, 0, static_cast<std::uint8_t>(code / 100), static_cast<std::uint8_t>(code % 100)};
  append(v, as_bytes(reason));
  append_attribute(out, kErrorCode, v);
  append_fingerprint(out);
  return out;
}

bool check_message_integrity(ByteView d, const StunMessage& m, ByteView key) {
  if (!m.integrity_at || *m.integrity_at + 24 > d.size()) return false;
  Bytes covered(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(*m.integrity_at));
  const auto len = static_cast<std::uint16_t>(*m.integrity_at + 24 - kStunHeaderBytes);
  covered[2] = static_cast<std::uint8_t>(len >> 8);
  covered[3] = static_cast<std::uint8_t>(len);
  std::array<std::uint8_t, EVP_MAX_MD_SIZE> mac{};
  unsigned int mac_len = 0;
  HMAC(EVP_sha1(), key.data(), static_cast<int>(key.size()), covered.data(), covered.size(),
       mac.data(), &mac_len);
  return mac_len == 20 && equal_ct(ByteView(mac).first(20), d.subspan(*m.integrity_at + 4, 20));
}

Bytes long_term_key(std::string_view username, std::string_view realm, std::string_view password) {
  const std::string input =
      std::string(username) + ":" + std::string(realm) + ":" + std::string(password);
  Bytes out(16);
  unsigned int n = 0;
  EVP_Digest(input.data(), input.size(), out.data(), &n, EVP_md5(), nullptr);
  return out;
}

}  // namespace ferry::proto
