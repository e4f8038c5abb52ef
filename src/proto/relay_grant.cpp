#include "proto/relay_grant.hpp"

#include <sodium.h>

#include <algorithm>
#include <string_view>

namespace ferry::proto {

namespace {
constexpr std::string_view kLabel = "ferry relay grant v1";

std::array<std::uint8_t, kRelayGrantMacBytes> grant_mac(const RelayKey& key, ByteView body) {
  crypto_generichash_state st;
  crypto_generichash_init(&st, key.data(), key.size(), kRelayGrantMacBytes);
  const auto label = as_bytes(kLabel);
  crypto_generichash_update(&st, label.data(), label.size());
  crypto_generichash_update(&st, body.data(), body.size());
  std::array<std::uint8_t, kRelayGrantMacBytes> mac{};
  crypto_generichash_final(&st, mac.data(), mac.size());
  return mac;
}
}  // namespace

Bytes sign_relay_grant(const RelayKey& key, const RelayGrant& grant) {
  Bytes out(grant.session.begin(), grant.session.end());
  append_u64(out, grant.expires);
  const auto mac = grant_mac(key, out);
  append(out, mac);
  return out;
}

GrantCheck check_relay_grant(const RelayKey& key, ByteView token, std::uint64_t now,
                             RelayGrant& out) {
  if (token.size() != kRelayGrantBytes) return GrantCheck::malformed;
  const ByteView body = token.first(kRelaySessionBytes + 8);
  const auto mac = grant_mac(key, body);
  if (!equal_ct(mac, token.subspan(body.size()))) return GrantCheck::forged;
  const std::uint64_t expires = read_u64(body.data() + kRelaySessionBytes);
  if (expires <= now) return GrantCheck::expired;
  std::copy_n(body.begin(), kRelaySessionBytes, out.session.begin());
  out.expires = expires;
  return GrantCheck::ok;
}

bool is_probe_grant(ByteView token) {
  return token.size() == kRelayGrantBytes &&
         std::all_of(token.begin(), token.end(), [](std::uint8_t b) { return b == 0; });
}

}  // namespace ferry::proto
