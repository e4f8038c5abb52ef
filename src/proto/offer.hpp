// The offer (manifest) a sender makes: files and folders with relative paths, sizes and modes, or a
// text message. Encoded as JSON; decoding validates every name and size, so a hostile offer is
// rejected before the receiver is even asked.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "proto/error.hpp"

namespace ferry::proto {

// Bounds on what a peer's offer may cost before anyone is asked: 100,000 entries parse in about
// 0.4 s and 70 MB (a million took 3 s and 630 MB); bigger trees travel as an archive.
inline constexpr std::size_t kMaxOfferEntries = 100'000;
inline constexpr std::size_t kMaxOfferBytes = 16 << 20;
inline constexpr std::size_t kMaxTextBytes = 1 << 20;

struct OfferEntry {
  enum class Kind { file, directory };
  std::string path;  // '/'-separated, relative, validated
  Kind kind = Kind::file;
  std::uint64_t size = 0;  // 0 for a streamed file
  bool executable = false;
  // Read from a pipe as it is sent (ferry send - from a pipe): its size is known only at its end,
  // and it cannot be resumed.
  bool streamed = false;
  // When it was last modified, in seconds since 1970 (UTC), where the sender knows (kMaxMtime at
  // most); the receiver gives the file or folder it makes this time.
  std::optional<std::int64_t> mtime{};
};

// The latest modification time an offer may carry (the year 9999).
inline constexpr std::int64_t kMaxMtime = 253402300799;

// The most a streamed file may carry (as a stated size may).
inline constexpr std::uint64_t kMaxFileBytes = std::uint64_t{1} << 62;

struct Offer {
  enum class Kind { files, text };
  Kind kind = Kind::files;
  std::string text;
  std::vector<OfferEntry> entries;

  std::uint64_t total_bytes() const;  // streamed files count 0
  bool has_streamed() const;
  std::size_t file_count() const;
};

std::string encode_offer(const Offer& offer);
Result<Offer> decode_offer(std::string_view json);

}  // namespace ferry::proto
