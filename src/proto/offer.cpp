#include "proto/offer.hpp"

#include <nlohmann/json.hpp>
#include <set>

#include "proto/names.hpp"

namespace ferry::proto {

using nlohmann::json;

std::uint64_t Offer::total_bytes() const {
  std::uint64_t total = 0;
  for (const auto& e : entries) total += e.size;
  return total;
}

bool Offer::has_streamed() const {
  for (const auto& e : entries) {
    if (e.streamed) return true;
  }
  return false;
}

std::size_t Offer::file_count() const {
  std::size_t n = 0;
  for (const auto& e : entries) n += e.kind == OfferEntry::Kind::file ? 1 : 0;
  return n;
}

std::string encode_offer(const Offer& offer) {
  json j;
  if (offer.kind == Offer::Kind::text) {
    j["kind"] = "text";
    j["text"] = offer.text;
  } else {
    j["kind"] = "files";
    json entries = json::array();
    for (const auto& e : offer.entries) {
      if (e.kind == OfferEntry::Kind::directory) {
        entries.push_back({{"path", e.path}, {"kind", "dir"}});
      } else if (e.streamed) {
        entries.push_back(
            {{"path", e.path}, {"kind", "file"}, {"stream", true}, {"exec", e.executable}});
      } else {
        entries.push_back(
            {{"path", e.path}, {"kind", "file"}, {"size", e.size}, {"exec", e.executable}});
      }
      if (e.mtime) entries.back()["mtime"] = *e.mtime;
    }
    j["entries"] = std::move(entries);
  }
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

namespace {
// A first pass over the JSON that only counts (a SAX handler: nothing is built), stopping at the
// limit: an offer of millions of empty entries ("{}," three bytes each) would otherwise become a
// tree of several hundred megabytes before its entries could be counted. Each entry is one object
// of a few values. (nlohmann 3.11's parse callback cannot serve: with one, parsing an array takes
// time quadratic in its length, 7 s for 100,000 entries.)
class EntryCounter {
 public:
  bool too_many() const { return too_many_; }
  bool null() { return value(); }
  bool boolean(bool /*v*/) { return value(); }
  bool number_integer(json::number_integer_t /*v*/) { return value(); }
  bool number_unsigned(json::number_unsigned_t /*v*/) { return value(); }
  bool number_float(json::number_float_t /*v*/, const std::string& /*s*/) { return value(); }
  bool string(std::string& /*s*/) { return value(); }
  bool binary(json::binary_t& /*b*/) { return value(); }
  bool start_object(std::size_t /*n*/) { return container(); }
  bool key(std::string& /*k*/) { return true; }
  bool end_object() { return true; }
  bool start_array(std::size_t /*n*/) { return container(); }
  bool end_array() { return true; }
  bool parse_error(std::size_t /*at*/, const std::string& /*token*/,
                   const nlohmann::detail::exception& /*e*/) {
    return false;
  }

 private:
  bool container() { return ++containers_ <= kMaxOfferEntries + 2 || stop(); }
  bool value() { return ++values_ <= 5 * kMaxOfferEntries + 8 || stop(); }
  bool stop() {
    too_many_ = true;
    return false;
  }
  std::size_t containers_ = 0;
  std::size_t values_ = 0;
  bool too_many_ = false;
};
}  // namespace

Result<Offer> decode_offer(std::string_view text) {
  EntryCounter counter;
  const bool whole = json::sax_parse(text, &counter, json::input_format_t::json, true);
  if (!whole && counter.too_many()) return fail(Errc::bad_offer, "the offer has too many entries");
  const json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("kind") || !j["kind"].is_string()) {
    return fail(Errc::protocol, "the offer is not valid JSON");
  }
  Offer offer;
  const auto kind = j["kind"].get<std::string>();
  if (kind == "text") {
    if (!j.contains("text") || !j["text"].is_string())
      return fail(Errc::protocol, "text offer without text");
    offer.kind = Offer::Kind::text;
    offer.text = j["text"].get<std::string>();
    if (offer.text.size() > kMaxTextBytes)
      return fail(Errc::bad_offer, "the text message is too long");
    return offer;
  }
  if (kind != "files" || !j.contains("entries") || !j["entries"].is_array()) {
    return fail(Errc::protocol, "the offer has an unknown kind");
  }
  const auto& entries = j["entries"];
  if (entries.empty()) return fail(Errc::bad_offer, "the offer is empty");
  if (entries.size() > kMaxOfferEntries)
    return fail(Errc::bad_offer, "the offer has too many entries");
  std::set<std::string> seen;
  std::set<std::string> dirs;  // every path that is (or must be) a directory
  std::uint64_t total = 0;
  for (const auto& e : entries) {
    if (!e.is_object() || !e.contains("path") || !e["path"].is_string() || !e.contains("kind") ||
        !e["kind"].is_string()) {
      return fail(Errc::protocol, "an offer entry is malformed");
    }
    OfferEntry entry;
    entry.path = e["path"].get<std::string>();
    auto parts = split_relative_path(entry.path);
    if (!parts) return std::unexpected(parts.error());
    const auto k = e["kind"].get<std::string>();
    if (k == "dir") {
      entry.kind = OfferEntry::Kind::directory;
    } else if (k == "file") {
      entry.streamed = e.contains("stream") && e["stream"].is_boolean() && e["stream"].get<bool>();
      if (!entry.streamed && (!e.contains("size") || !e["size"].is_number_unsigned())) {
        return fail(Errc::protocol, "an offered file has no size");
      }
      entry.size = entry.streamed ? 0 : e["size"].get<std::uint64_t>();
      entry.executable = e.contains("exec") && e["exec"].is_boolean() && e["exec"].get<bool>();
      if (entry.size > kMaxFileBytes || total + entry.size < total) {
        return fail(Errc::bad_offer, "an offered file is impossibly large");
      }
      total += entry.size;
    } else {
      return fail(Errc::protocol, "an offer entry has an unknown kind");
    }
    if (e.contains("mtime")) {
      const auto& t = e["mtime"];
      if (!t.is_number_integer() || t.get<std::int64_t>() < 0 ||
          t.get<std::int64_t>() > kMaxMtime) {
        return fail(Errc::protocol, "an offer entry's modification time is not a time");
      }
      entry.mtime = t.get<std::int64_t>();
    }
    if (!seen.insert(entry.path).second) {
      return fail(Errc::bad_offer, "the offer names \"" + display_name(entry.path) + "\" twice");
    }
    // A file may not also be a parent folder of another entry.
    std::string prefix;
    for (std::size_t i = 0; i + 1 < parts->size(); ++i) {
      prefix += (i ? "/" : "") + (*parts)[i];
      dirs.insert(prefix);
    }
    if (entry.kind == OfferEntry::Kind::directory) dirs.insert(entry.path);
    offer.entries.push_back(std::move(entry));
  }
  for (const auto& e : offer.entries) {
    if (e.kind == OfferEntry::Kind::file && dirs.count(e.path)) {
      return fail(Errc::bad_offer,
                  "the offer uses \"" + display_name(e.path) + "\" as both a file and a folder");
    }
  }
  return offer;
}

}  // namespace ferry::proto
