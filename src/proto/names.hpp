// Validation of the relative paths a peer offers, and escaping of names for the terminal. A name
// that passes can be created under the target folder without escaping it; symlinks on disk are the
// file sink's job (it opens every component with O_NOFOLLOW).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "proto/error.hpp"

namespace ferry::proto {

inline constexpr std::size_t kMaxPathBytes = 4096;
inline constexpr std::size_t kMaxComponentBytes = 255;

// Splits a '/'-separated relative path into components, rejecting absolute paths, "..", ".",
// empty components, backslashes, drive letters, NUL and over-long names.
Result<std::vector<std::string>> split_relative_path(std::string_view path);

// The name with control characters, invalid UTF-8 and terminal escapes shown as \xNN.
std::string display_name(std::string_view name);

// A size as people read it: "512 B", "1.3 MB", "4.0 GB" (powers of 1000).
std::string human_bytes(std::uint64_t n);

}  // namespace ferry::proto
