#include "proto/record.hpp"

#include <openssl/evp.h>

#include <algorithm>

namespace ferry::proto {

namespace {
static_assert(kRecordOverhead == 1 + crypto_aead_aes256gcm_ABYTES,
              "both ciphers frame records alike");
constexpr std::uint8_t kAesMessage = 0;
constexpr std::uint8_t kAesFinal = 1;

constexpr int kAesTagBytes = crypto_aead_aes256gcm_ABYTES;

// The pipe's own AES key: the direction's stream key bound to this pipe's random header.
AesGcmKey aes_key_for(const Key& key, ByteView header, bool encrypt) {
  std::array<std::uint8_t, crypto_aead_aes256gcm_KEYBYTES> subkey{};
  crypto_generichash(subkey.data(), subkey.size(), header.data(), header.size(), key.data(),
                     key.size());
  AesGcmKey k(subkey, encrypt);
  sodium_memzero(subkey.data(), subkey.size());
  return k;
}

int int_size(std::size_t n) {
  return static_cast<int>(n);  // records are at most kMaxRecordPlaintext + overhead
}

std::array<std::uint8_t, crypto_aead_aes256gcm_NPUBBYTES> nonce_of(std::uint64_t counter) {
  std::array<std::uint8_t, crypto_aead_aes256gcm_NPUBBYTES> n{};
  for (int i = 0; i < 8; ++i) n[11 - i] = static_cast<std::uint8_t>(counter >> (8 * i));
  return n;
}
}  // namespace

void AesGcmKey::Free::operator()(evp_cipher_ctx_st* ctx) const {
  EVP_CIPHER_CTX_free(ctx);
}

AesGcmKey::AesGcmKey(ByteView key, bool encrypt) : ctx_(EVP_CIPHER_CTX_new()) {
  // Only allocation can fail here (a 32-byte key for AES-256, the default 12-byte IV).
  if (!ctx_ || key.size() != crypto_aead_aes256gcm_KEYBYTES ||
      EVP_CipherInit_ex(ctx_.get(), EVP_aes_256_gcm(), nullptr, key.data(), nullptr,
                        encrypt ? 1 : 0) != 1) {
    throw std::bad_alloc();
  }
}

void AesGcmKey::seal(const std::uint8_t* nonce, ByteView aad, ByteView plaintext,
                     std::uint8_t* out) {
  int n = 0;
  EVP_CIPHER_CTX* c = ctx_.get();
  EVP_EncryptInit_ex(c, nullptr, nullptr, nullptr, nonce);
  EVP_EncryptUpdate(c, nullptr, &n, aad.data(), int_size(aad.size()));
  EVP_EncryptUpdate(c, out, &n, plaintext.data(), int_size(plaintext.size()));
  EVP_EncryptFinal_ex(c, out + n, &n);
  EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, kAesTagBytes, out + plaintext.size());
}

bool AesGcmKey::open(const std::uint8_t* nonce, ByteView aad, ByteView ciphertext,
                     const std::uint8_t* tag, std::uint8_t* out) {
  int n = 0;
  EVP_CIPHER_CTX* c = ctx_.get();
  std::array<std::uint8_t, kAesTagBytes> expected{};
  std::copy_n(tag, expected.size(), expected.begin());
  return EVP_DecryptInit_ex(c, nullptr, nullptr, nullptr, nonce) == 1 &&
         EVP_DecryptUpdate(c, nullptr, &n, aad.data(), int_size(aad.size())) == 1 &&
         EVP_DecryptUpdate(c, out, &n, ciphertext.data(), int_size(ciphertext.size())) == 1 &&
         EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, kAesTagBytes, expected.data()) == 1 &&
         EVP_DecryptFinal_ex(c, out + n, &n) == 1;
}

bool aes256gcm_available() {
  return crypto_aead_aes256gcm_is_available() == 1;
}

RecordSealer::RecordSealer(const Key& key, std::uint8_t* header_out, RecordCipher cipher)
    : cipher_(cipher) {
  if (cipher_ == RecordCipher::aes256gcm) {
    randombytes_buf(header_out, kRecordHeaderBytes);
    aes_ = aes_key_for(key, ByteView(header_out, kRecordHeaderBytes), true);
  } else {
    crypto_secretstream_xchacha20poly1305_init_push(&state_, header_out, key.data());
  }
}

void RecordSealer::seal(ByteView plaintext, bool final, Bytes& out) {
  const std::size_t start = out.size();
  const std::size_t clen = plaintext.size() + kRecordOverhead;
  out.resize(start + kRecordLengthBytes + clen);
  std::uint8_t* p = out.data() + start;
  p[0] = static_cast<std::uint8_t>(clen >> 24);
  p[1] = static_cast<std::uint8_t>(clen >> 16);
  p[2] = static_cast<std::uint8_t>(clen >> 8);
  p[3] = static_cast<std::uint8_t>(clen);
  std::uint8_t* c = p + kRecordLengthBytes;
  if (cipher_ == RecordCipher::aes256gcm) {
    c[0] = final ? kAesFinal : kAesMessage;
    const auto nonce = nonce_of(counter_++);
    aes_.seal(nonce.data(), ByteView(c, 1), plaintext, c + 1);
    return;
  }
  const std::uint8_t tag = final ? crypto_secretstream_xchacha20poly1305_TAG_FINAL
                                 : crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
  crypto_secretstream_xchacha20poly1305_push(&state_, c, nullptr, plaintext.data(),
                                             plaintext.size(), nullptr, 0, tag);
}

Result<RecordOpener> RecordOpener::start(const Key& key, ByteView header, RecordCipher cipher) {
  RecordOpener o;
  o.cipher_ = cipher;
  if (header.size() != kRecordHeaderBytes) return fail(Errc::protocol, "bad record stream header");
  if (cipher == RecordCipher::aes256gcm) {
    if (!aes256gcm_available()) return fail(Errc::protocol, "AES-256-GCM is not available here");
    o.aes_ = aes_key_for(key, header, false);
    return o;
  }
  if (crypto_secretstream_xchacha20poly1305_init_pull(&o.state_, header.data(), key.data()) != 0) {
    return fail(Errc::protocol, "bad record stream header");
  }
  return o;
}

Result<std::size_t> RecordOpener::frame_length(const std::uint8_t* prefix) {
  const std::size_t len = read_u32(prefix);
  if (len < kRecordOverhead || len > kMaxRecordPlaintext + kRecordOverhead) {
    return fail(Errc::protocol, "record length out of range");
  }
  return len;
}

Result<void> RecordOpener::open(ByteView ciphertext, Bytes& out, bool& final) {
  if (finished_) return fail(Errc::protocol, "record after the final record");
  if (ciphertext.size() < kRecordOverhead) return fail(Errc::protocol, "record too short");
  out.resize(ciphertext.size() - kRecordOverhead);
  if (cipher_ == RecordCipher::aes256gcm) {
    const std::uint8_t tag = ciphertext[0];
    const std::size_t n = out.size();
    const auto nonce = nonce_of(counter_);
    if ((tag != kAesMessage && tag != kAesFinal) ||
        !aes_.open(nonce.data(), ciphertext.first(1), ciphertext.subspan(1, n),
                   ciphertext.data() + 1 + n, out.data())) {
      out.clear();  // nothing unauthenticated leaves here
      return fail(Errc::protocol,
                  "record failed authentication (tampered, reordered or wrong key)");
    }
    ++counter_;
    final = tag == kAesFinal;
    finished_ = final;
    return {};
  }
  unsigned char tag = 0;
  if (crypto_secretstream_xchacha20poly1305_pull(&state_, out.data(), nullptr, &tag,
                                                 ciphertext.data(), ciphertext.size(), nullptr,
                                                 0) != 0) {
    return fail(Errc::protocol, "record failed authentication (tampered, reordered or wrong key)");
  }
  final = tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL;
  finished_ = final;
  return {};
}

Result<bool> RecordParser::next(Bytes& out, bool& final) {
  const std::size_t avail = buffer_.size() - pos_;
  if (!opener_) {
    if (avail < kRecordHeaderBytes) return false;
    auto o =
        RecordOpener::start(key_, ByteView(buffer_).subspan(pos_, kRecordHeaderBytes), cipher_);
    if (!o) return std::unexpected(o.error());
    opener_ = std::move(*o);
    pos_ += kRecordHeaderBytes;
    return next(out, final);
  }
  if (buffer_.size() - pos_ < kRecordLengthBytes) return false;
  auto len = RecordOpener::frame_length(buffer_.data() + pos_);
  if (!len) return std::unexpected(len.error());
  if (buffer_.size() - pos_ < kRecordLengthBytes + *len) return false;
  auto r = opener_->open(ByteView(buffer_).subspan(pos_ + kRecordLengthBytes, *len), out, final);
  if (!r) return std::unexpected(r.error());
  pos_ += kRecordLengthBytes + *len;
  if (pos_ == buffer_.size()) {
    buffer_.clear();
    pos_ = 0;
  }
  return true;
}

}  // namespace ferry::proto
