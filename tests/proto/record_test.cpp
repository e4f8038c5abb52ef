#include "proto/record.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace ferry::proto {
namespace {

Key key(std::uint8_t v) {
  Key k{};
  k.fill(v);
  return k;
}

// Seals messages into one wire byte string.
Bytes seal_all(const Key& k, const std::vector<std::string>& msgs, RecordCipher cipher) {
  Bytes wire(kRecordHeaderBytes);
  RecordSealer sealer(k, wire.data(), cipher);
  for (std::size_t i = 0; i < msgs.size(); ++i)
    sealer.seal(as_bytes(msgs[i]), i + 1 == msgs.size(), wire);
  return wire;
}

// Every property holds for both ciphers.
class Record : public ::testing::TestWithParam<RecordCipher> {
 protected:
  void SetUp() override {
    if (GetParam() == RecordCipher::aes256gcm && !aes256gcm_available()) {
      GTEST_SKIP() << "this CPU has no hardware AES: ferry never offers AES-256-GCM here";
    }
  }
};

TEST_P(Record, RoundTripInArbitraryFragments) {
  const std::vector<std::string> msgs = {"hello", std::string(100000, 'x'), "", "last"};
  const Bytes wire = seal_all(key(1), msgs, GetParam());
  for (std::size_t step : {1u, 7u, 4096u, 1u << 20}) {
    RecordParser parser(key(1), GetParam());
    std::vector<std::string> got;
    bool final = false;
    for (std::size_t pos = 0; pos < wire.size(); pos += step) {
      parser.feed(ByteView(wire).subspan(pos, std::min(step, wire.size() - pos)));
      Bytes out;
      for (;;) {
        auto r = parser.next(out, final);
        ASSERT_TRUE(r) << r.error().detail;
        if (!*r) break;
        got.emplace_back(out.begin(), out.end());
      }
    }
    EXPECT_EQ(got, msgs);
    EXPECT_TRUE(final);
  }
}

TEST_P(Record, TamperedByteIsRejected) {
  Bytes wire = seal_all(key(2), {"attack at dawn"}, GetParam());
  wire[kRecordHeaderBytes + kRecordLengthBytes + 3] ^= 1;
  RecordParser parser(key(2), GetParam());
  parser.feed(wire);
  Bytes out;
  bool final = false;
  EXPECT_FALSE(parser.next(out, final));
}

TEST_P(Record, WrongKeyIsRejected) {
  const Bytes wire = seal_all(key(3), {"secret"}, GetParam());
  RecordParser parser(key(4), GetParam());
  parser.feed(wire);
  Bytes out;
  bool final = false;
  EXPECT_FALSE(parser.next(out, final));
}

TEST_P(Record, ReorderedRecordsAreRejected) {
  Bytes wire(kRecordHeaderBytes);
  RecordSealer sealer(key(5), wire.data(), GetParam());
  Bytes first, second;
  sealer.seal(as_bytes("one"), false, first);
  sealer.seal(as_bytes("two"), false, second);
  append(wire, second);
  append(wire, first);
  RecordParser parser(key(5), GetParam());
  parser.feed(wire);
  Bytes out;
  bool final = false;
  EXPECT_FALSE(parser.next(out, final));
}

TEST_P(Record, TruncationIsVisibleAsMissingFinal) {
  // Drop the final record: everything before it opens, but the stream never ends properly.
  Bytes wire(kRecordHeaderBytes);
  RecordSealer sealer(key(6), wire.data(), GetParam());
  sealer.seal(as_bytes("one"), false, wire);
  const std::size_t cut = wire.size();
  sealer.seal(as_bytes("two"), true, wire);
  wire.resize(cut + 2);  // and a torn length prefix
  RecordParser parser(key(6), GetParam());
  parser.feed(wire);
  Bytes out;
  bool final = true;
  ASSERT_TRUE(*parser.next(out, final));
  EXPECT_FALSE(final);
  EXPECT_FALSE(*parser.next(out, final));  // needs more: the caller sees EOF before the final tag
}

TEST_P(Record, RecordAfterFinalIsRejected) {
  Bytes wire(kRecordHeaderBytes);
  RecordSealer sealer(key(7), wire.data(), GetParam());
  sealer.seal(as_bytes("end"), true, wire);
  sealer.seal(as_bytes("more"), false, wire);
  RecordParser parser(key(7), GetParam());
  parser.feed(wire);
  Bytes out;
  bool final = false;
  ASSERT_TRUE(*parser.next(out, final));
  EXPECT_TRUE(final);
  EXPECT_FALSE(parser.next(out, final));
}

TEST_P(Record, OversizedLengthIsRejectedBeforeBuffering) {
  Bytes wire(kRecordHeaderBytes);
  RecordSealer sealer(key(8), wire.data(), GetParam());
  append_u32(wire, 0x7fffffff);
  RecordParser parser(key(8), GetParam());
  parser.feed(wire);
  Bytes out;
  bool final = false;
  EXPECT_FALSE(parser.next(out, final));
}

INSTANTIATE_TEST_SUITE_P(Ciphers, Record,
                         ::testing::Values(RecordCipher::xchacha20poly1305,
                                           RecordCipher::aes256gcm),
                         [](const auto& info) {
                           return info.param == RecordCipher::aes256gcm ? "aes256gcm"
                                                                        : "xchacha20poly1305";
                         });

TEST(RecordAes, EachPipeHasItsOwnKeyAndTheTagIsAuthenticated) {
  if (!aes256gcm_available()) GTEST_SKIP() << "no hardware AES on this CPU";
  // Two pipes under one stream key: the same counter, different headers, different keys.
  const Bytes a = seal_all(key(9), {"same words"}, RecordCipher::aes256gcm);
  const Bytes b = seal_all(key(9), {"same words"}, RecordCipher::aes256gcm);
  const ByteView wa(a);
  const ByteView wb(b);
  EXPECT_FALSE(std::ranges::equal(wa.first(kRecordHeaderBytes), wb.first(kRecordHeaderBytes)));
  EXPECT_FALSE(std::ranges::equal(wa.subspan(kRecordHeaderBytes), wb.subspan(kRecordHeaderBytes)));
  // b's record behind a's header: fails.
  Bytes spliced = a;
  spliced.resize(kRecordHeaderBytes);
  append(spliced, wb.subspan(kRecordHeaderBytes));
  RecordParser mixed(key(9), RecordCipher::aes256gcm);
  mixed.feed(spliced);
  Bytes out;
  bool final = false;
  EXPECT_FALSE(mixed.next(out, final));
  // Turning the final record into an ordinary one (or back) is tampering.
  Bytes untagged = a;
  untagged[kRecordHeaderBytes + kRecordLengthBytes] ^= 1;
  RecordParser parser(key(9), RecordCipher::aes256gcm);
  parser.feed(untagged);
  EXPECT_FALSE(parser.next(out, final));
  // Each side reads only the cipher it agreed to.
  RecordParser other(key(9), RecordCipher::xchacha20poly1305);
  other.feed(a);
  EXPECT_FALSE(other.next(out, final));
  const Bytes x = seal_all(key(9), {"same words"}, RecordCipher::xchacha20poly1305);
  RecordParser aes(key(9), RecordCipher::aes256gcm);
  aes.feed(x);
  EXPECT_FALSE(aes.next(out, final));
}

// OpenSSL seals and opens; the records must stay the standard AES-256-GCM that ferry's earlier
// releases made with libsodium, so both open each other's (an older peer keeps working).
TEST(RecordAes, RecordsAreLibsodiumsAes256Gcm) {
  if (!aes256gcm_available()) GTEST_SKIP() << "no hardware AES on this CPU";
  const Key k = key(10);
  const std::string big(300000, 'q');
  const Bytes wire = seal_all(k, {"first", big, ""}, RecordCipher::aes256gcm);
  const ByteView header = ByteView(wire).first(kRecordHeaderBytes);
  std::array<std::uint8_t, crypto_aead_aes256gcm_KEYBYTES> subkey{};
  crypto_generichash(subkey.data(), subkey.size(), header.data(), header.size(), k.data(),
                     k.size());
  // Each record, opened by libsodium with the counter nonce.
  std::size_t pos = kRecordHeaderBytes;
  const std::vector<std::string> want = {"first", big, ""};
  for (std::uint64_t i = 0; i < want.size(); ++i) {
    const std::size_t len = read_u32(wire.data() + pos);
    const std::uint8_t* c = wire.data() + pos + kRecordLengthBytes;
    std::array<std::uint8_t, crypto_aead_aes256gcm_NPUBBYTES> nonce{};
    nonce[11] = static_cast<std::uint8_t>(i);
    Bytes plain(len - kRecordOverhead);
    ASSERT_EQ(crypto_aead_aes256gcm_decrypt_detached(plain.data(), nullptr, c + 1, plain.size(),
                                                     c + 1 + plain.size(), c, 1, nonce.data(),
                                                     subkey.data()),
              0)
        << "record " << i;
    EXPECT_EQ(std::string(plain.begin(), plain.end()), want[i]);
    EXPECT_EQ(c[0], i + 1 == want.size() ? 1 : 0);
    pos += kRecordLengthBytes + len;
  }
  EXPECT_EQ(pos, wire.size());

  // And a record libsodium sealed opens here.
  Bytes theirs(kRecordHeaderBytes, 7);
  crypto_generichash(subkey.data(), subkey.size(), theirs.data(), kRecordHeaderBytes, k.data(),
                     k.size());
  const std::string text = "from an older ferry";
  const std::size_t clen = text.size() + kRecordOverhead;
  theirs.resize(kRecordHeaderBytes + kRecordLengthBytes + clen);
  std::uint8_t* p = theirs.data() + kRecordHeaderBytes;
  p[3] = static_cast<std::uint8_t>(clen);
  p[4] = 1;  // final
  const std::array<std::uint8_t, crypto_aead_aes256gcm_NPUBBYTES> zero{};
  crypto_aead_aes256gcm_encrypt_detached(
      p + 5, p + 5 + text.size(), nullptr, reinterpret_cast<const std::uint8_t*>(text.data()),
      text.size(), p + 4, 1, nullptr, zero.data(), subkey.data());
  RecordParser parser(k, RecordCipher::aes256gcm);
  parser.feed(theirs);
  Bytes out;
  bool final = false;
  auto got = parser.next(out, final);
  ASSERT_TRUE(got && *got);
  EXPECT_EQ(std::string(out.begin(), out.end()), text);
  EXPECT_TRUE(final);
}

}  // namespace
}  // namespace ferry::proto
