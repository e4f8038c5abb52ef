// Validation of the relative paths a peer offers, and escaping of names for the terminal. A name
// that passes can be created under the target folder without escaping it; symlinks on disk are the
// file sink's job (it opens every component with O_NOFOLLOW).
#pragma once

#include <chrono>

#include <string>
#include <string_view>
#include <vector>

#include "proto/error.hpp"

namespace ferry::proto {

inline constexpr std::size_t kMaxPathBytes = 4096;
inline constexpr std::size_t kMaxComponentBytes = 255;
// What a file is called while it is being received (session/file_sink): no offered name ends so.
inline constexpr std::string_view kPartSuffix = ".ferry-part";

// Splits a '/'-separated relative path into components. The one rule set for names a peer offers
// (web/src/protocol.js safeRelativePath is the page's copy; tests/data/hostile_names.json is read
// by both test suites): refused are absolute paths, drive letters, "..", ".", empty components,
// backslashes, invalid UTF-8, control characters (C0, DEL, C1), invisible and text-direction
// characters (U+202E and friends), names ending in ".ferry-part" and over-long names.
Result<std::vector<std::string>> split_relative_path(std::string_view path);

// The name with control characters, backslashes, invalid UTF-8 and terminal escapes shown as
// \xNN, and invisible or text-direction characters as \u{NNNN}.
std::string display_name(std::string_view name);
// Text from a peer or a server, safe for a terminal: as display_name, but newlines and tabs are
// kept and backslashes left alone (so an already escaped name passes unchanged).
std::string terminal_text(std::string_view text);

// A size as people read it: "512 B", "1.3 MB", "4.0 GB" (powers of 1000).
std::string human_bytes(std::uint64_t n);

// A duration as a person types it: "90" or "90s", "10m" (or "10min"), "2h", "1d"; at most 30
// days. For --expire.
Result<std::chrono::seconds> parse_duration(std::string_view text);

}  // namespace ferry::proto
