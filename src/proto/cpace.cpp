#include "proto/cpace.hpp"

#include <sodium.h>

#include <cstring>

namespace ferry::proto {
namespace {

constexpr std::string_view kDsi = "CPaceRistretto255";
constexpr std::string_view kDsiIsk = "CPaceRistretto255_ISK";
constexpr std::size_t kHashBlockBytes = 128;  // SHA-512 s_in_bytes

std::size_t lv_prefix_len(std::size_t n) {
  std::size_t len = 1;
  while (n >= 0x80) {
    n >>= 7;
    ++len;
  }
  return len;
}

}  // namespace

Bytes cpace_generator_string(ByteView prs, ByteView ci, ByteView sid) {
  const std::size_t used =
      lv_prefix_len(prs.size()) + prs.size() + lv_prefix_len(kDsi.size()) + kDsi.size() + 1;
  const std::size_t zpad = used < kHashBlockBytes ? kHashBlockBytes - used : 0;
  Bytes out;
  append_lv(out, as_bytes(kDsi));
  append_lv(out, prs);
  append_lv(out, Bytes(zpad, 0));
  append_lv(out, ci);
  append_lv(out, sid);
  return out;
}

Result<CpacePoint> cpace_generator(ByteView prs, ByteView ci, ByteView sid) {
  const Bytes gen = cpace_generator_string(prs, ci, sid);
  std::array<std::uint8_t, crypto_hash_sha512_BYTES> hash{};
  crypto_hash_sha512(hash.data(), gen.data(), gen.size());
  CpacePoint g{};
  if (crypto_core_ristretto255_from_hash(g.data(), hash.data()) != 0) {
    return fail(Errc::internal, "ristretto255 map failed");
  }
  return g;
}

Result<Cpace> Cpace::start(Role role, ByteView prs, ByteView ci, ByteView sid, ByteView ad,
                           const CpaceScalar& scalar) {
  auto g = cpace_generator(prs, ci, sid);
  if (!g) return std::unexpected(g.error());
  Cpace c;
  c.role_ = role;
  c.scalar_ = scalar;
  c.sid_.assign(sid.begin(), sid.end());
  c.ad_.assign(ad.begin(), ad.end());
  if (crypto_scalarmult_ristretto255(c.share_.data(), scalar.data(), g->data()) != 0) {
    return fail(Errc::internal, "CPace share is the identity");
  }
  return c;
}

Result<CpaceIsk> Cpace::finish(const CpacePoint& peer_share, ByteView peer_ad) const {
  std::array<std::uint8_t, kCpacePointBytes> k{};
  // scalar_mult_vfy: decoding failures and the identity both abort.
  if (crypto_core_ristretto255_is_valid_point(peer_share.data()) != 1 ||
      crypto_scalarmult_ristretto255(k.data(), scalar_.data(), peer_share.data()) != 0) {
    return fail(Errc::protocol, "the peer's PAKE message is not a valid group element");
  }
  Bytes input;
  append_lv(input, as_bytes(kDsiIsk));
  append_lv(input, sid_);
  append_lv(input, k);
  // transcript_ir(Ya, ADa, Yb, ADb): the initiator's share always comes first.
  if (role_ == Role::initiator) {
    append_lv(input, share_);
    append_lv(input, ad_);
    append_lv(input, peer_share);
    append_lv(input, peer_ad);
  } else {
    append_lv(input, peer_share);
    append_lv(input, peer_ad);
    append_lv(input, share_);
    append_lv(input, ad_);
  }
  CpaceIsk isk{};
  crypto_hash_sha512(isk.data(), input.data(), input.size());
  sodium_memzero(k.data(), k.size());
  return isk;
}

}  // namespace ferry::proto
