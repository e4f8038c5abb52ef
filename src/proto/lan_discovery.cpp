#include "proto/lan_discovery.hpp"

#include <sodium.h>

#include "proto/code.hpp"

namespace ferry::proto {
namespace {
constexpr std::string_view kMagic = "FERRYLAN";
constexpr std::uint8_t kVersion = 1;
constexpr std::uint8_t kQuery = 1;
constexpr std::uint8_t kAnswer = 2;
}  // namespace

Bytes encode_lan(const LanMessage& m) {
  Bytes out;
  append(out, as_bytes(kMagic));
  out.push_back(kVersion);
  const auto put_common = [&](const std::string& nameplate, const Bytes& nonce) {
    out.push_back(static_cast<std::uint8_t>(nameplate.size()));
    append(out, as_bytes(nameplate));
    append(out, nonce);
  };
  if (const auto* q = std::get_if<LanQuery>(&m)) {
    out.push_back(kQuery);
    put_common(q->nameplate, q->nonce);
  } else {
    const auto& a = std::get<LanAnswer>(m);
    out.push_back(kAnswer);
    put_common(a.nameplate, a.nonce);
    append_u16(out, a.port);
    append(out, a.session_nonce);
  }
  return out;
}

Result<LanMessage> decode_lan(ByteView d) {
  const auto bad = [] { return fail(Errc::protocol, "not a ferry LAN datagram"); };
  if (d.size() > kLanMaxDatagram || d.size() < kMagic.size() + 3) return bad();
  if (std::string_view(reinterpret_cast<const char*>(d.data()), kMagic.size()) != kMagic) {
    return bad();
  }
  std::size_t at = kMagic.size();
  if (d[at++] != kVersion) return bad();
  const std::uint8_t type = d[at++];
  const std::size_t n = d[at++];
  if (d.size() < at + n + kLanNonceBytes) return bad();
  std::string nameplate(reinterpret_cast<const char*>(d.data() + at), n);
  at += n;
  if (!valid_nameplate(nameplate)) return bad();
  Bytes nonce(d.begin() + static_cast<std::ptrdiff_t>(at),
              d.begin() + static_cast<std::ptrdiff_t>(at + kLanNonceBytes));
  at += kLanNonceBytes;
  if (type == kQuery) {
    if (at != d.size()) return bad();
    return LanQuery{std::move(nameplate), std::move(nonce)};
  }
  if (type != kAnswer || d.size() != at + 2 + kLanNonceBytes) return bad();
  LanAnswer a{std::move(nameplate), std::move(nonce), read_u16(d.data() + at), {}};
  at += 2;
  if (a.port == 0) return bad();
  a.session_nonce.assign(d.begin() + static_cast<std::ptrdiff_t>(at), d.end());
  return a;
}

Bytes lan_session_id(ByteView session_nonce) {
  Bytes out(32);
  Bytes input;
  append(input, as_bytes("ferry LAN transfer v1"));
  append(input, session_nonce);
  crypto_generichash(out.data(), out.size(), input.data(), input.size(), nullptr, 0);
  return out;
}

}  // namespace ferry::proto
