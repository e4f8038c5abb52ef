#include "proto/wormhole_spake2.hpp"

#include <algorithm>

#include <sodium.h>

#include "proto/wormhole_crypto.hpp"

namespace ferry::proto {
namespace {

// python-spake2's S = arbitrary_element(b"symmetric"): HKDF-expanded seed, the first y that
// decodes to a curve point, times the cofactor. Its generation needs a field square root that
// libsodium does not expose, so the encoding is fixed here; tests/proto/wormhole_vectors.py
// prints it from the reference code and the unit test checks it.
constexpr std::array<std::uint8_t, 32> kSymmetricElement = {
    0x6f, 0x00, 0xda, 0xe8, 0x7c, 0x1b, 0xe1, 0xa7, 0x3b, 0x59, 0x22, 0xef, 0x43, 0x1c, 0xd8, 0xf5,
    0x78, 0x79, 0x56, 0x9c, 0x22, 0x2d, 0x22, 0xb1, 0xcd, 0x71, 0xe8, 0x54, 0x6a, 0xb8, 0xe6, 0xf1};
constexpr std::uint8_t kSideSymmetric = 'S';

std::array<std::uint8_t, 32> sha256(ByteView data) {
  std::array<std::uint8_t, 32> out{};
  crypto_hash_sha256(out.data(), data.data(), data.size());
  return out;
}

}  // namespace

Ed25519Scalar spake2_password_scalar(ByteView password) {
  const Bytes wide = hkdf_sha256(password, as_bytes("SPAKE2 pw"), 32 + 16);
  std::array<std::uint8_t, crypto_core_ed25519_NONREDUCEDSCALARBYTES> little{};
  std::reverse_copy(wide.begin(), wide.end(), little.begin());
  Ed25519Scalar out{};
  crypto_core_ed25519_scalar_reduce(out.data(), little.data());
  return out;
}

Result<Spake2Symmetric> Spake2Symmetric::start(ByteView password, ByteView id,
                                               const Ed25519Scalar& scalar) {
  Spake2Symmetric s;
  s.password_.assign(password.begin(), password.end());
  s.id_.assign(id.begin(), id.end());
  s.scalar_ = scalar;
  const Ed25519Scalar pw = spake2_password_scalar(password);
  std::array<std::uint8_t, 32> xy{};
  if (crypto_scalarmult_ed25519_base_noclamp(xy.data(), scalar.data()) != 0 ||
      crypto_scalarmult_ed25519_noclamp(s.blinding_.data(), pw.data(), kSymmetricElement.data()) !=
          0)
    return fail(Errc::internal, "SPAKE2 scalar is zero");
  s.message_[0] = kSideSymmetric;
  crypto_core_ed25519_add(s.message_.data() + 1, xy.data(), s.blinding_.data());
  return s;
}

Result<WormholeKey> Spake2Symmetric::finish(ByteView peer_message) const {
  if (peer_message.size() != kSpake2MessageBytes || peer_message[0] != kSideSymmetric)
    return fail(Errc::protocol, "the peer's SPAKE2 message is not a symmetric-mode message");
  const ByteView peer = peer_message.subspan(1);
  const ByteView mine = ByteView(message_).subspan(1);
  if (crypto_core_ed25519_is_valid_point(peer.data()) != 1)
    return fail(Errc::protocol, "the peer's SPAKE2 message is not a valid point");
  if (std::equal(peer.begin(), peer.end(), mine.begin()))
    return fail(Errc::protocol, "the peer reflected our own SPAKE2 message");
  std::array<std::uint8_t, 32> unblinded{};
  std::array<std::uint8_t, 32> shared{};
  if (crypto_core_ed25519_sub(unblinded.data(), peer.data(), blinding_.data()) != 0 ||
      crypto_scalarmult_ed25519_noclamp(shared.data(), scalar_.data(), unblinded.data()) != 0)
    return fail(Errc::protocol, "the peer's SPAKE2 message yields no key");
  // Transcript: the messages sorted, so both sides hash the same bytes.
  const bool mine_first =
      std::lexicographical_compare(mine.begin(), mine.end(), peer.begin(), peer.end());
  Bytes transcript;
  append(transcript, sha256(password_));
  append(transcript, sha256(id_));
  append(transcript, mine_first ? mine : peer);
  append(transcript, mine_first ? peer : mine);
  append(transcript, shared);
  return sha256(transcript);
}

}  // namespace ferry::proto
