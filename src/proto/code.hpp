// Codes and links: what a sender shows and a receiver types or clicks.
//   code: <nameplate>-<word>-<word>      (16 bits of secret; one guess, enforced by the server)
//   link: <server url>/r#<nameplate>-<128-bit secret, base64url>   (the secret never leaves the
//         fragment, so no server ever sees it)
#pragma once

#include <array>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "proto/bytes.hpp"
#include "proto/error.hpp"

namespace ferry::proto {

inline constexpr std::size_t kLinkSecretBytes = 16;

const std::array<std::string_view, 256>& code_words();

// What the PAKE password was derived from; the receiver tells the sender which one it holds.
enum class SecretKind : std::uint8_t { words = 1, link = 2 };

struct Secret {
  std::string nameplate;
  SecretKind kind = SecretKind::words;
  std::string words;  // "<word>-<word>" normalised, for kind == words
  Bytes link_secret;  // for kind == link

  // The PAKE password bytes (PRS), domain-separated by kind.
  Bytes password() const;
};

// A nameplate is a decimal number without leading zeros, at most 9 digits.
bool valid_nameplate(std::string_view n);

// Two random bytes become two words.
std::string words_from_bytes(std::uint8_t a, std::uint8_t b);

// Parses "<nameplate>-<words>", tolerating case, surrounding spaces and spaces (or several dashes)
// between the parts. Every word must be on the list or a unique prefix of one (completed here), so
// a typo is refused before anything reaches a server, with "did you mean" suggestions.
Result<Secret> parse_code(std::string_view text);

// Damerau-Levenshtein distance (letters added, dropped, changed, or two neighbours swapped: one
// edit each), for "did you mean". Both strings are short (the caller bounds them).
std::size_t edit_distance(std::string_view a, std::string_view b);

// Up to three list words within max_edits edits (letters added, dropped, changed or swapped) of
// typed, closest first.
std::vector<std::string_view> similar_words(std::string_view typed, std::size_t max_edits = 2);
// The same among any list of words (magic-wormhole's, for its codes).
std::vector<std::string_view> similar_in(std::string_view typed,
                                         std::span<const std::string_view> words,
                                         std::size_t max_edits = 2);
// "a", "b" or "c": words as a sentence lists them.
std::string quoted_list(const std::vector<std::string_view>& words);
// A typed word made safe to quote in a message: letters, digits, '-' and '_' kept, others '?'.
std::string display_word(std::string_view typed);

std::string format_code(const Secret& s);

struct Link {
  std::string server_url;  // scheme://host[:port][/path], without the trailing "/r"
  Secret secret;
};

std::string format_link(std::string_view server_url, std::string_view nameplate,
                        ByteView link_secret);
Result<Link> parse_link(std::string_view url);
bool looks_like_link(std::string_view text);

// Words starting with prefix, for interactive completion.
std::vector<std::string_view> complete_word(std::string_view prefix);

}  // namespace ferry::proto
