#include "proto/wormhole_crypto.hpp"

#include <algorithm>

#include <openssl/evp.h>
#include <sodium.h>

namespace ferry::proto {
namespace {

using Sha256 = std::array<std::uint8_t, crypto_hash_sha256_BYTES>;

Sha256 hmac_sha256(ByteView key, ByteView a, ByteView b = {}, ByteView c = {}) {
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, key.data(), key.size());
  crypto_auth_hmacsha256_update(&st, a.data(), a.size());
  crypto_auth_hmacsha256_update(&st, b.data(), b.size());
  crypto_auth_hmacsha256_update(&st, c.data(), c.size());
  Sha256 out{};
  crypto_auth_hmacsha256_final(&st, out.data());
  return out;
}

Sha256 sha256(std::string_view s) {
  Sha256 out{};
  crypto_hash_sha256(out.data(), reinterpret_cast<const unsigned char*>(s.data()), s.size());
  return out;
}

WormholeKey hkdf_key(const WormholeKey& key, std::string_view info) {
  const Bytes b = hkdf_sha256(key, as_bytes(info), 32);
  WormholeKey out{};
  std::copy(b.begin(), b.end(), out.begin());
  return out;
}

SecretboxNonce counter_nonce(std::uint64_t counter) {
  SecretboxNonce n{};
  for (std::size_t i = 0; i < 8; ++i)
    n[n.size() - 1 - i] = static_cast<std::uint8_t>(counter >> (8 * i));
  return n;
}

}  // namespace

Bytes hkdf_sha256(ByteView input_key, ByteView info, std::size_t length) {
  const Sha256 zero_salt{};
  const Sha256 prk = hmac_sha256(zero_salt, input_key);
  Bytes out;
  Sha256 block{};
  std::size_t block_len = 0;
  for (std::uint8_t i = 1; out.size() < length; ++i) {
    const std::uint8_t counter[1] = {i};
    block = hmac_sha256(prk, ByteView(block.data(), block_len), info, counter);
    block_len = block.size();
    out.insert(
        out.end(), block.begin(),
        block.begin() + static_cast<std::ptrdiff_t>(std::min(block.size(), length - out.size())));
  }
  return out;
}

WormholeKey wormhole_derive_key(const WormholeKey& key, ByteView purpose) {
  const Bytes b = hkdf_sha256(key, purpose, 32);
  WormholeKey out{};
  std::copy(b.begin(), b.end(), out.begin());
  return out;
}

WormholeKey wormhole_phase_key(const WormholeKey& key, std::string_view side,
                               std::string_view phase) {
  Bytes purpose;
  append(purpose, as_bytes("wormhole:phase:"));
  append(purpose, sha256(side));
  append(purpose, sha256(phase));
  return wormhole_derive_key(key, purpose);
}

Bytes wormhole_seal(const WormholeKey& key, ByteView plaintext, const SecretboxNonce& nonce) {
  Bytes out(nonce.size() + crypto_secretbox_MACBYTES + plaintext.size());
  std::copy(nonce.begin(), nonce.end(), out.begin());
  crypto_secretbox_easy(out.data() + nonce.size(), plaintext.data(), plaintext.size(), nonce.data(),
                        key.data());
  return out;
}

Result<Bytes> wormhole_open(const WormholeKey& key, ByteView sealed) {
  if (sealed.size() < kSecretboxNonceBytes + crypto_secretbox_MACBYTES)
    return fail(Errc::protocol, "sealed message too short");
  Bytes out(sealed.size() - kSecretboxNonceBytes - crypto_secretbox_MACBYTES);
  if (crypto_secretbox_open_easy(out.data(), sealed.data() + kSecretboxNonceBytes,
                                 sealed.size() - kSecretboxNonceBytes, sealed.data(),
                                 key.data()) != 0)
    return fail(Errc::wrong_code, "message does not open under the shared key");
  return out;
}

WormholeKey wormhole_transit_key(const WormholeKey& key) {
  return wormhole_derive_key(key, as_bytes(std::string(kWormholeAppId) + "/transit-key"));
}

std::string transit_sender_handshake(const WormholeKey& transit_key) {
  return "transit sender " + to_hex(hkdf_key(transit_key, "transit_sender")) + " ready\n\n";
}

std::string transit_receiver_handshake(const WormholeKey& transit_key) {
  return "transit receiver " + to_hex(hkdf_key(transit_key, "transit_receiver")) + " ready\n\n";
}

std::string transit_relay_handshake(const WormholeKey& transit_key, std::string_view side) {
  return "please relay " + to_hex(hkdf_key(transit_key, "transit_relay_token")) + " for side " +
         std::string(side) + "\n";
}

Sha256Stream::Sha256Stream() : ctx_(EVP_MD_CTX_new()) {
  EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), EVP_sha256(), nullptr);
}

Sha256Stream::~Sha256Stream() {
  EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_));
}

void Sha256Stream::update(ByteView data) {
  EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data.data(), data.size());
}

std::string Sha256Stream::hex_digest() {
  std::array<std::uint8_t, EVP_MAX_MD_SIZE> out{};
  unsigned n = 0;
  EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), out.data(), &n);
  return to_hex(ByteView(out.data(), n));
}

TransitRecords::TransitRecords(const WormholeKey& transit_key, TransitRole role) {
  const WormholeKey sender = hkdf_key(transit_key, "transit_record_sender_key");
  const WormholeKey receiver = hkdf_key(transit_key, "transit_record_receiver_key");
  send_key_ = role == TransitRole::sender ? sender : receiver;
  receive_key_ = role == TransitRole::sender ? receiver : sender;
}

Bytes TransitRecords::seal(ByteView plaintext) {
  const Bytes box = wormhole_seal(send_key_, plaintext, counter_nonce(sent_++));
  Bytes out;
  out.reserve(4 + box.size());
  append_u32(out, static_cast<std::uint32_t>(box.size()));
  append(out, box);
  return out;
}

Result<Bytes> TransitRecords::open(ByteView record) {
  Bytes out(record.size() >= kTransitRecordOverhead ? record.size() - kTransitRecordOverhead : 0);
  auto n = open_into(record, out.data());
  if (!n) return std::unexpected(n.error());
  return out;
}

Result<std::size_t> TransitRecords::open_into(ByteView record, std::uint8_t* out) {
  if (record.size() < kTransitRecordOverhead)
    return fail(Errc::protocol, "transit record too short");
  const SecretboxNonce expected = counter_nonce(received_);
  if (!std::equal(expected.begin(), expected.end(), record.begin()))
    return fail(Errc::protocol, "transit record out of order");
  if (crypto_secretbox_open_easy(out, record.data() + kSecretboxNonceBytes,
                                 record.size() - kSecretboxNonceBytes, record.data(),
                                 receive_key_.data()) != 0)
    return fail(Errc::protocol, "transit record does not open (tampered)");
  ++received_;
  return record.size() - kTransitRecordOverhead;
}

}  // namespace ferry::proto
