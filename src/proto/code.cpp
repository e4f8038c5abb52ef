#include "proto/code.hpp"

#include <algorithm>
#include <cctype>

namespace ferry::proto {
namespace {

constexpr std::size_t kMaxNameplateDigits = 9;
constexpr std::size_t kMaxWordsLength = 200;

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

Result<Secret> parse_code(std::string_view text) {
  const std::string s = normalise(text);
  const auto dash = s.find('-');
  if (dash == std::string::npos) {
    return fail(Errc::usage, "a code looks like 7-tumbler-oxcart: a number, then words");
  }
  Secret out;
  out.nameplate = s.substr(0, dash);
  out.words = s.substr(dash + 1);
  if (!valid_nameplate(out.nameplate)) {
    return fail(Errc::usage, "a code starts with a number, as in 7-tumbler-oxcart");
  }
  if (out.words.empty() || out.words.size() > kMaxWordsLength ||
      std::any_of(out.words.begin(), out.words.end(),
                  [](char c) { return std::iscntrl(static_cast<unsigned char>(c)) != 0; })) {
    return fail(Errc::usage, "the words after the number are missing or malformed");
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
