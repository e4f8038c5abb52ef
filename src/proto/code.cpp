#include "proto/code.hpp"

#include <algorithm>
#include <cctype>
#include <vector>

namespace ferry::proto {
namespace {

constexpr std::size_t kMaxNameplateDigits = 9;
constexpr std::size_t kMaxWordsLength = 200;
constexpr std::size_t kMaxCodeWords = 8;
constexpr std::size_t kMinCodeWords = 2;

std::string normalise(std::string_view text) {
  std::string out;
  for (char c : text) out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  auto first = out.find_first_not_of(" \t\r\n");
  auto last = out.find_last_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  out = out.substr(first, last - first + 1);
  std::replace(out.begin(), out.end(), ' ', '-');
  return out;
}

}  // namespace

bool valid_nameplate(std::string_view n) {
  return !n.empty() && n.size() <= kMaxNameplateDigits && n.front() != '0' &&
         std::all_of(n.begin(), n.end(), [](char c) { return c >= '0' && c <= '9'; });
}

Bytes Secret::password() const {
  Bytes out;
  if (kind == SecretKind::words) {
    append(out, as_bytes("ferry words:"));
    append(out, as_bytes(words));
  } else {
    append(out, as_bytes("ferry link:"));
    append(out, link_secret);
  }
  return out;
}

std::string words_from_bytes(std::uint8_t a, std::uint8_t b) {
  return std::string(code_words()[a]) + "-" + std::string(code_words()[b]);
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

std::string quoted_list(const std::vector<std::string_view>& words) {
  std::string out;
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (i > 0) out += i + 1 == words.size() ? " or " : ", ";
    out += "\"" + std::string(words[i]) + "\"";
  }
  return out;
}

namespace {

// One typed word: a word of the list, or a unique prefix of one.
Result<std::string_view> resolve_word(std::string_view typed) {
  const auto& words = code_words();
  if (std::binary_search(words.begin(), words.end(), typed)) {
    return *std::lower_bound(words.begin(), words.end(), typed);
  }
  const auto matches = complete_word(typed);
  const std::string shown = display_word(typed);
  if (matches.size() == 1) {
    // A prefix that is also one slip away from another word ("bage": bagel, or badge mistyped?)
    // is not completed: a wrong guess would spend the code.
    std::vector<std::string_view> candidates{matches.front()};
    for (auto w : similar_words(typed, 1)) {
      if (w != matches.front()) candidates.push_back(w);
    }
    if (candidates.size() == 1) return matches.front();
    return fail(Errc::usage, "\"" + shown + "\" could be " + quoted_list(candidates) +
                                 ": type the whole word. Nothing was sent, so the code is still "
                                 "good");
  }
  if (matches.size() > 1) {
    std::vector<std::string_view> some(matches.begin(),
                                       matches.begin() + std::min<std::size_t>(matches.size(), 4));
    return fail(Errc::usage, "\"" + shown + "\" could be " + quoted_list(some) +
                                 (matches.size() > some.size() ? ", …" : "") +
                                 ": type more of the word");
  }
  const auto near = similar_words(typed);
  return fail(Errc::usage, "\"" + shown + "\" is not one of ferry's code words" +
                               (near.empty() ? std::string(" (check the code you were given)")
                                             : "; did you mean " + quoted_list(near) + "?") +
                               " Nothing was sent, so the code is still good");
}

}  // namespace

std::string display_word(std::string_view typed) {
  std::string out;
  for (char c : typed) {
    if (std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_') {
      out.push_back(c);
    } else {
      out.push_back('?');
    }
    if (out.size() >= 40) break;
  }
  return out;
}

std::vector<std::string_view> similar_words(std::string_view typed, std::size_t max_edits) {
  const auto& words = code_words();
  return similar_in(typed, std::span<const std::string_view>(words.data(), words.size()),
                    max_edits);
}

std::vector<std::string_view> similar_in(std::string_view typed,
                                         std::span<const std::string_view> words,
                                         std::size_t max_edits) {
  std::vector<std::pair<std::size_t, std::string_view>> scored;
  if (typed.size() > 40) return {};
  for (auto w : words) {
    const auto d = edit_distance(typed, w);
    if (d <= max_edits) scored.emplace_back(d, w);
  }
  std::stable_sort(scored.begin(), scored.end(),
                   [](const auto& x, const auto& y) { return x.first < y.first; });
  std::vector<std::string_view> out;
  for (std::size_t i = 0; i < scored.size() && i < 3; ++i) out.push_back(scored[i].second);
  return out;
}

Result<Secret> parse_code(std::string_view text) {
  std::string s = normalise(text);
  // Any run of separators (spaces, tabs, dashes) is one dash.
  std::string collapsed;
  for (char c : s) {
    if (c == '\t') c = '-';
    if (c == '-' && (collapsed.empty() || collapsed.back() == '-')) continue;
    collapsed.push_back(c);
  }
  while (!collapsed.empty() && collapsed.back() == '-') collapsed.pop_back();
  s = collapsed;
  const auto dash = s.find('-');
  if (dash == std::string::npos) {
    return fail(Errc::usage, "a code looks like 7-tumbler-oxcart: a number, then words");
  }
  Secret out;
  out.nameplate = s.substr(0, dash);
  if (!valid_nameplate(out.nameplate)) {
    const bool digits = std::all_of(out.nameplate.begin(), out.nameplate.end(),
                                    [](char c) { return c >= '0' && c <= '9'; });
    if (digits && !out.nameplate.empty() && out.nameplate.size() <= kMaxNameplateDigits) {
      return fail(Errc::usage,
                  "the number a code starts with is 1 or more, without leading zeros, as in "
                  "7-tumbler-oxcart");
    }
    return fail(Errc::usage, "a code starts with a number, as in 7-tumbler-oxcart");
  }
  const std::string rest = s.substr(dash + 1);
  if (rest.empty() || rest.size() > kMaxWordsLength ||
      std::any_of(rest.begin(), rest.end(),
                  [](char c) { return std::iscntrl(static_cast<unsigned char>(c)) != 0; })) {
    return fail(Errc::usage, "the words after the number are missing or malformed");
  }
  std::size_t start = 0;
  std::size_t count = 0;
  while (start <= rest.size()) {
    const auto next = rest.find('-', start);
    const std::string_view typed = std::string_view(rest).substr(
        start, next == std::string::npos ? std::string::npos : next - start);
    auto word = resolve_word(typed);
    if (!word) return std::unexpected(word.error());
    if (++count > kMaxCodeWords) {
      return fail(Errc::usage, "a code has at most " + std::to_string(kMaxCodeWords) + " words");
    }
    out.words += (out.words.empty() ? "" : "-") + std::string(*word);
    if (next == std::string::npos) break;
    start = next + 1;
  }
  // One word is 8 bits: a guess in 256. And "79-badge" is more likely a word left out than a
  // short code: said here, before the claim uses the code up.
  if (count < kMinCodeWords) {
    return fail(Errc::usage,
                "a word is missing: a code has a number and at least " +
                    std::to_string(kMinCodeWords) +
                    " words, as in 7-tumbler-oxcart. Nothing was sent, so the code is still good");
  }
  out.kind = SecretKind::words;
  return out;
}

std::string format_code(const Secret& s) {
  return s.nameplate + "-" + s.words;
}

std::string format_link(std::string_view server_url, std::string_view nameplate,
                        ByteView link_secret) {
  std::string base(server_url);
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base + "/r#" + std::string(nameplate) + "-" + to_base64url(link_secret);
}

bool looks_like_link(std::string_view text) {
  return text.find("://") != std::string_view::npos && text.find('#') != std::string_view::npos;
}

Result<Link> parse_link(std::string_view url) {
  const auto hash = url.find('#');
  if (hash == std::string_view::npos || url.find("://") == std::string_view::npos) {
    return fail(Errc::usage, "a link looks like https://server/r#7-<secret>");
  }
  std::string_view base = url.substr(0, hash);
  const std::string_view fragment = url.substr(hash + 1);
  while (!base.empty() && base.back() == '/') base.remove_suffix(1);
  if (base.size() < 2 || base.substr(base.size() - 2) != "/r") {
    return fail(Errc::usage, "this link does not point at a ferry receive page (/r#...)");
  }
  base.remove_suffix(2);
  const auto dash = fragment.find('-');
  if (dash == std::string_view::npos || !valid_nameplate(fragment.substr(0, dash))) {
    return fail(Errc::usage, "the link's #part is damaged: it should be #<number>-<secret>");
  }
  auto secret = from_base64url(fragment.substr(dash + 1));
  if (!secret || secret->size() != kLinkSecretBytes) {
    return fail(Errc::usage, "the link's secret is damaged (was the link cut short?)");
  }
  Link out;
  out.server_url = std::string(base);
  out.secret.nameplate = std::string(fragment.substr(0, dash));
  out.secret.kind = SecretKind::link;
  out.secret.link_secret = std::move(*secret);
  return out;
}

std::vector<std::string_view> complete_word(std::string_view prefix) {
  std::vector<std::string_view> out;
  const auto& words = code_words();
  auto it = std::lower_bound(words.begin(), words.end(), prefix);
  for (; it != words.end() && it->substr(0, prefix.size()) == prefix; ++it) out.push_back(*it);
  return out;
}

}  // namespace ferry::proto
