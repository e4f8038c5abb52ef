#include "proto/direct_code.hpp"

namespace ferry::proto {

namespace {
constexpr std::uint8_t kVersion = 1;
constexpr std::size_t kSecretBytes = 16;
}  // namespace

std::string format_direct_code(const DirectCode& code) {
  Bytes out{kVersion};
  append(out, code.secret);
  const std::size_t n = std::min(code.addresses.size(), kDirectMaxAddresses);
  out.push_back(static_cast<std::uint8_t>(n));
  for (std::size_t i = 0; i < n; ++i) {
    const auto& a = code.addresses[i];
    out.push_back(a.ip.size() == 4 ? 4 : 6);
    append(out, a.ip);
    append_u16(out, a.port);
  }
  return std::string(kDirectCodePrefix) + to_base64url(out);
}

bool looks_like_direct_code(std::string_view text) {
  return text.starts_with(kDirectCodePrefix);
}

Result<DirectCode> parse_direct_code(std::string_view text) {
  const auto bad = [](const std::string& why) {
    return fail(Errc::usage, "this direct code is damaged (" + why + "); copy it again whole");
  };
  if (!looks_like_direct_code(text)) return bad("it does not start with \"direct-\"");
  auto raw = from_base64url(text.substr(kDirectCodePrefix.size()));
  if (!raw) return bad("not base64url");
  const Bytes& b = *raw;
  if (b.size() < 2 + kSecretBytes || b[0] != kVersion) return bad("wrong version or too short");
  DirectCode out;
  out.secret.assign(b.begin() + 1, b.begin() + 1 + kSecretBytes);
  std::size_t at = 1 + kSecretBytes;
  const std::size_t n = b[at++];
  if (n == 0 || n > kDirectMaxAddresses) return bad("no addresses");
  for (std::size_t i = 0; i < n; ++i) {
    if (at >= b.size()) return bad("truncated");
    const std::size_t len = b[at] == 4 ? 4 : b[at] == 6 ? 16 : 0;
    if (len == 0 || b.size() - at < 1 + len + 2) return bad("bad address");
    IpPort a;
    a.ip.assign(b.begin() + static_cast<std::ptrdiff_t>(at + 1),
                b.begin() + static_cast<std::ptrdiff_t>(at + 1 + len));
    a.port = read_u16(b.data() + at + 1 + len);
    if (a.port == 0) return bad("port 0");
    out.addresses.push_back(std::move(a));
    at += 1 + len + 2;
  }
  if (at != b.size()) return bad("trailing bytes");
  return out;
}

Secret direct_secret(const DirectCode& code) {
  Secret s;
  s.nameplate = "direct";
  s.kind = SecretKind::link;
  s.link_secret = code.secret;
  return s;
}

ByteView direct_session_id() {
  return as_bytes("ferry direct transfer v1");
}

}  // namespace ferry::proto
