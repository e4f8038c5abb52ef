#include "proto/pipe_message.hpp"

#include <gtest/gtest.h>

#include "proto/key_schedule.hpp"

namespace ferry::proto {
namespace {

TEST(PipeMessage, RoundTripsEveryType) {
  const Bytes data = {1, 2, 3};
  FileHash h{};
  h.fill(9);
  const std::vector<PipeMessage> msgs = {msg::Hello{1, h},
                                         msg::Select{},
                                         msg::OfferPart{true, data},
                                         msg::Accept{{0, 5, 1ull << 40}},
                                         msg::Decline{"declined"},
                                         msg::Chunk{3, 1ull << 33, data},
                                         msg::FileEnd{4, h},
                                         msg::Done{},
                                         msg::Ack{},
                                         msg::Abort{"disk_full", "no space"},
                                         msg::Moved{},
                                         msg::Moved{msg::PipeTag{1, 2, 3}},
                                         msg::Select{true}};
  for (const auto& m : msgs) {
    const Bytes enc = encode(m);
    auto d = decode_pipe_message(enc);
    ASSERT_TRUE(d) << d.error().detail;
    EXPECT_EQ(d->index(), m.index());
    EXPECT_EQ(encode(*d), enc);
  }
}

// "moved" may name its pipe by the first 16 bytes of the sender's stream header on it; the plain
// one is what older builds send and read, so they never see the tag (it goes only to peers that
// name relay-udp). The same goes for "select" as an upgrade.
TEST(PipeMessage, MovedNamesItsPipeAndSelectMaySayUpgrade) {
  const Bytes header(24, 0x5A);
  const auto tag = msg::pipe_tag(header);
  msg::PipeTag want{};
  want.fill(0x5A);
  EXPECT_EQ(tag, want);
  const Bytes plain = encode(msg::Moved{});
  const Bytes named = encode(msg::Moved{tag});
  EXPECT_EQ(named.size(), plain.size() + msg::kPipeTagBytes);
  auto d = decode_pipe_message(named);
  ASSERT_TRUE(d);
  EXPECT_EQ(std::get<msg::Moved>(*d).to, tag);
  d = decode_pipe_message(plain);
  ASSERT_TRUE(d);
  EXPECT_FALSE(std::get<msg::Moved>(*d).to);
  for (const std::size_t cut : {1, 15, 17}) {
    Bytes bad = plain;
    bad.resize(1 + cut, 7);
    EXPECT_FALSE(decode_pipe_message(bad)) << cut;
  }
  const Bytes upgrade = encode(msg::Select{true});
  EXPECT_EQ(upgrade.size(), encode(msg::Select{}).size() + 1);
  d = decode_pipe_message(upgrade);
  ASSERT_TRUE(d);
  EXPECT_TRUE(std::get<msg::Select>(*d).upgrade);
  Bytes bad = upgrade;
  bad.back() = 2;
  EXPECT_FALSE(decode_pipe_message(bad));
}

// A hello is bound to both of its pipe's stream headers and to its side: a hello recorded on one
// pipe (another receiver header, another sender header) or from the other side verifies nowhere.
TEST(PipeMessage, HelloBindingCoversBothHeadersAndTheSide) {
  Key k{};
  k.fill(3);
  const Bytes s1(24, 1), s2(24, 2), r1(24, 5), r2(24, 6);
  const auto b = hello_binding(k, Side::sender, s1, r1);
  EXPECT_EQ(b, hello_binding(k, Side::sender, s1, r1));
  EXPECT_NE(b, hello_binding(k, Side::sender, s1, r2));
  EXPECT_NE(b, hello_binding(k, Side::sender, s2, r1));
  EXPECT_NE(b, hello_binding(k, Side::receiver, s1, r1));
  Key other = k;
  other[0] ^= 1;
  EXPECT_NE(b, hello_binding(other, Side::sender, s1, r1));
}

TEST(PipeMessage, AHelloWithoutItsBindingIsMalformed) {
  EXPECT_FALSE(decode_pipe_message(Bytes{1, 0}));
  Bytes long_hello = encode(msg::Hello{0, {}});
  long_hello.push_back(0);
  EXPECT_FALSE(decode_pipe_message(long_hello));
}

TEST(PipeMessage, ChunkHeaderMatchesEncode) {
  const Bytes data = {7, 7};
  const Bytes enc = encode(msg::Chunk{5, 77, data});
  Bytes manual(kChunkHeaderBytes);
  encode_chunk_header(5, 77, manual.data());
  append(manual, data);
  EXPECT_EQ(enc, manual);
}

TEST(PipeMessage, RejectsMalformed) {
  const std::vector<Bytes> bad = {{},
                                  {0},
                                  {99},
                                  {1},
                                  {1, 2},
                                  {2, 0},
                                  {3},
                                  {3, 2},
                                  {4, 0, 0, 0, 9},
                                  {5, 0, 0, 0, 9, 'a'},
                                  {6, 0, 0, 0},
                                  {7, 0, 0, 0, 1, 2},
                                  {8, 1},
                                  {10, 0xff, 0xff, 0xff, 0xff}};
  for (const auto& b : bad) EXPECT_FALSE(decode_pipe_message(b)) << to_hex(b);
}

}  // namespace
}  // namespace ferry::proto
