#include "proto/pipe_message.hpp"

#include <gtest/gtest.h>

namespace ferry::proto {
namespace {

TEST(PipeMessage, RoundTripsEveryType) {
  const Bytes data = {1, 2, 3};
  FileHash h{};
  h.fill(9);
  const std::vector<PipeMessage> msgs = {msg::Hello{1},
                                         msg::Select{},
                                         msg::OfferPart{true, data},
                                         msg::Accept{{0, 5, 1ull << 40}},
                                         msg::Decline{"declined"},
                                         msg::Chunk{3, 1ull << 33, data},
                                         msg::FileEnd{4, h},
                                         msg::Done{},
                                         msg::Ack{},
                                         msg::Abort{"disk_full", "no space"},
                                         msg::Moved{}};
  for (const auto& m : msgs) {
    const Bytes enc = encode(m);
    auto d = decode_pipe_message(enc);
    ASSERT_TRUE(d) << d.error().detail;
    EXPECT_EQ(d->index(), m.index());
    EXPECT_EQ(encode(*d), enc);
  }
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
