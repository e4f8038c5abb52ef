#include "proto/mailbox_crypto.hpp"

#include <sodium.h>

#include <array>

namespace ferry::proto {
namespace {
std::array<std::uint8_t, crypto_secretbox_NONCEBYTES> counter_nonce(std::uint64_t counter) {
  std::array<std::uint8_t, crypto_secretbox_NONCEBYTES> nonce{};
  for (int i = 0; i < 8; ++i) nonce[i] = static_cast<std::uint8_t>(counter >> (8 * i));
  return nonce;
}
}  // namespace

Bytes MailboxSealer::seal(ByteView plaintext) {
  Bytes out(plaintext.size() + crypto_secretbox_MACBYTES);
  const auto nonce = counter_nonce(counter_++);
  crypto_secretbox_easy(out.data(), plaintext.data(), plaintext.size(), nonce.data(), key_.data());
  return out;
}

Result<Bytes> MailboxOpener::open(ByteView ciphertext) {
  if (ciphertext.size() < crypto_secretbox_MACBYTES) {
    return fail(Errc::protocol, "mailbox message too short");
  }
  Bytes out(ciphertext.size() - crypto_secretbox_MACBYTES);
  const auto nonce = counter_nonce(counter_);
  if (crypto_secretbox_open_easy(out.data(), ciphertext.data(), ciphertext.size(), nonce.data(),
                                 key_.data()) != 0) {
    return fail(Errc::protocol, "mailbox message failed authentication");
  }
  ++counter_;
  return out;
}

}  // namespace ferry::proto
