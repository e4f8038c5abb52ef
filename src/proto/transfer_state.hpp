// The receiver's view of a transfer in progress: checks that chunks arrive in the agreed order
// (entry by entry, contiguous from the accepted start offset), never past an offered size, and that
// every file's BLAKE2b hash (of the whole file, or of its resumed prefix) matches before it may be
// renamed into place. Sans-I/O.
#pragma once

#include <sodium.h>

#include "proto/offer.hpp"
#include "proto/pipe_message.hpp"

namespace ferry::proto {

class FileHasher {
 public:
  FileHasher();
  void update(ByteView data);
  FileHash finish();

 private:
  crypto_generichash_state state_{};
};

// What a file end's hash covers: the whole file (the first protocol), or only the prefix the
// receiver already held (Features::prefix_hash; fresh bytes are left to the record layer).
enum class HashScope { whole_file, prefix };

class ReceiveTracker {
 public:
  ReceiveTracker(const Offer& offer, std::vector<std::uint64_t> start_offsets, HashScope scope);

  // Bytes already on disk from an earlier attempt, hashed before new chunks arrive.
  void absorb_prefix(std::uint32_t file, ByteView data);
  Result<void> on_chunk(const msg::Chunk& chunk);
  Result<void> on_file_end(const msg::FileEnd& end);
  Result<void> on_done() const;

  // The entry whose bytes are arriving, or entries().size() when all are done.
  std::size_t current() const { return current_; }
  std::uint64_t received_bytes() const { return received_; }

 private:
  void skip_directories();

  const Offer& offer_;
  std::vector<std::uint64_t> position_;
  std::size_t current_ = 0;
  std::uint64_t received_ = 0;
  HashScope scope_;
  FileHasher hasher_;
};

}  // namespace ferry::proto
