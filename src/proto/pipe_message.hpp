// The messages carried, one per record, on an authenticated pipe between sender and receiver:
// hello (both, first), select (receiver picks this pipe), offer parts, accept/decline, chunks,
// per-file hashes, done, ack, abort. Binary: one type byte, then big-endian fields.
#pragma once

#include <array>
#include <optional>
#include <variant>

#include "proto/bytes.hpp"
#include "proto/error.hpp"

namespace ferry::proto {

using FileHash = std::array<std::uint8_t, 32>;

namespace msg {
struct Hello {
  std::uint8_t side = 0;                   // 0 sender, 1 receiver
  std::array<std::uint8_t, 32> binding{};  // proto::hello_binding over the two stream headers
};
// The receiver's choice of this pipe. upgrade: as a pipe to move to after the winner (a direct one
// after the relay, or the other transport's), never as the winner itself, so that a sender that
// hears the two selects in the other order cannot take the wrong pipe for the winner; said only
// to a peer that names relay-udp (older ones refuse the byte).
struct Select {
  bool upgrade = false;
};
struct OfferPart {
  bool last = true;
  ByteView json;
};
struct Accept {
  std::vector<std::uint64_t> start_offsets;  // one per offer entry (0 for directories)
};
struct Decline {
  std::string reason;  // an errc_name
};
struct Chunk {
  std::uint32_t file = 0;
  std::uint64_t offset = 0;
  ByteView data;
};
struct FileEnd {
  std::uint32_t file = 0;
  FileHash hash{};
};
struct Done {};
struct Ack {};
// The sender's last word on a pipe it leaves for a better one (a relay for a direct path): every
// later record comes on the pipe the receiver selected for the move. to: which pipe, by the first
// bytes of the sender's stream header on it (random per pipe, the receiver's received header),
// for when several may be waiting (a trial's, a direct one's) and the two sides took them in
// different orders; said only to a peer that names relay-udp (older ones refuse the bytes, and
// take the race's pipe on the first move, the one they kept for a trial on the next).
inline constexpr std::size_t kPipeTagBytes = 16;
using PipeTag = std::array<std::uint8_t, kPipeTagBytes>;
struct Moved {
  std::optional<PipeTag> to;
};
// A pipe's tag: the first bytes of a stream header (the sender's on that pipe).
PipeTag pipe_tag(ByteView stream_header);
struct Abort {
  std::string code;  // an errc_name
  std::string message;
};
}  // namespace msg

using PipeMessage =
    std::variant<msg::Hello, msg::Select, msg::OfferPart, msg::Accept, msg::Decline, msg::Chunk,
                 msg::FileEnd, msg::Done, msg::Ack, msg::Abort, msg::Moved>;

// Bytes before a chunk's data; senders build chunk records in place to avoid a copy.
inline constexpr std::size_t kChunkHeaderBytes = 1 + 4 + 8;
void encode_chunk_header(std::uint32_t file, std::uint64_t offset, std::uint8_t* out);

// What the other side's abort means here, as an error: `peer` is "the sender" or "the receiver".
// A cancel (Ctrl-C over there) is told as such; other reasons carry the peer's words.
Error abort_error(const msg::Abort& abort, std::string_view peer);

Bytes encode(const PipeMessage& m);
// Views in the result point into the input buffer.
Result<PipeMessage> decode_pipe_message(ByteView record);

}  // namespace ferry::proto
