#include "proto/pcp.hpp"

#include <algorithm>

namespace ferry::proto {

namespace {
constexpr std::uint8_t kVersion = 2;
constexpr std::uint8_t kOpMap = 1;
constexpr std::size_t kHeaderBytes = 24;
constexpr std::size_t kMapBytes = 36;

// PCP carries every address as 16 bytes, IPv4 as ::ffff:a.b.c.d.
void append_ip16(Bytes& out, ByteView ip) {
  if (ip.size() == 4) {
    append(out, Bytes(10, 0));
    append(out, Bytes{0xFF, 0xFF});
  }
  append(out, ip);
}

}  // namespace

Bytes encode_pcp_map(const PcpMapRequest& r) {
  Bytes out{kVersion, kOpMap, 0, 0};
  append_u32(out, r.lifetime);
  append_ip16(out, r.client_ip);
  append(out, r.nonce);
  out.push_back(r.protocol);
  append(out, Bytes(3, 0));
  append_u16(out, r.internal_port);
  append_u16(out, r.suggested_external_port);
  append(out, Bytes(16, 0));  // suggested external address: any (all zeros)
  return out;
}

Result<PcpMapResponse> decode_pcp_map_response(ByteView d) {
  if (d.size() < kHeaderBytes + kMapBytes || d[0] != kVersion || d[1] != (0x80 | kOpMap)) {
    return fail(Errc::protocol, "not a PCP MAP response");
  }
  PcpMapResponse r;
  r.result = d[3];
  r.lifetime = read_u32(d.data() + 4);
  r.epoch = read_u32(d.data() + 8);
  const std::size_t m = kHeaderBytes;
  std::copy_n(d.begin() + m, r.nonce.size(), r.nonce.begin());
  r.protocol = d[m + 12];
  r.internal_port = read_u16(d.data() + m + 16);
  r.external_port = read_u16(d.data() + m + 18);
  const auto ip = d.subspan(m + 20, 16);
  const bool v4 = std::all_of(ip.begin(), ip.begin() + 10, [](std::uint8_t b) { return b == 0; }) &&
                  ip[10] == 0xFF && ip[11] == 0xFF;
  r.external_ip.assign(v4 ? ip.begin() + 12 : ip.begin(), ip.end());
  return r;
}

std::string pcp_result_name(std::uint8_t result) {
  static constexpr std::array<const char*, 14> kNames = {
      "SUCCESS",          "UNSUPP_VERSION",        "NOT_AUTHORIZED",   "MALFORMED_REQUEST",
      "UNSUPP_OPCODE",    "UNSUPP_OPTION",         "MALFORMED_OPTION", "NETWORK_FAILURE",
      "NO_RESOURCES",     "UNSUPP_PROTOCOL",       "USER_EX_QUOTA",    "CANNOT_PROVIDE_EXTERNAL",
      "ADDRESS_MISMATCH", "EXCESSIVE_REMOTE_PEERS"};
  return result < kNames.size() ? kNames[result] : "result " + std::to_string(result);
}

}  // namespace ferry::proto
