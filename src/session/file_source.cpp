#include "session/file_source.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <utility>

#include "proto/names.hpp"

namespace ferry::session {

namespace fs = std::filesystem;
using proto::Errc;
using proto::OfferEntry;

namespace {
// A modification time an offer can carry (proto::kMaxMtime), in whole seconds.
std::optional<std::int64_t> seconds_of(const struct stat& st) {
  const std::int64_t t = st.st_mtim.tv_sec;
  if (t < 0 || t > proto::kMaxMtime) return std::nullopt;
  return t;
}

std::optional<std::int64_t> modified(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return seconds_of(st);
}

bool executable(const fs::file_status& st) {
  return (st.permissions() & fs::perms::owner_exec) != fs::perms::none;
}
}  // namespace

FileSource::FileSource(FileSource&& other) noexcept
    : offer_(std::move(other.offer_)),
      sources_(std::move(other.sources_)),
      skipped_(std::move(other.skipped_)),
      stream_fd_(other.stream_fd_) {}

FileSource::~FileSource() = default;

proto::Result<FileSource> FileSource::from_paths(const std::vector<fs::path>& paths) {
  FileSource src;
  std::set<std::string> top;
  for (const auto& p : paths) {
    std::error_code ec;
    const auto st = fs::status(p, ec);  // the user named it: follow a top-level symlink
    if (ec || !fs::exists(st)) {
      return proto::fail(Errc::usage, "cannot send \"" + proto::display_name(p.string()) +
                                          "\": no such file or folder");
    }
    fs::path abs = fs::absolute(p, ec).lexically_normal();
    std::string name = abs.filename().string();
    if (name.empty()) name = abs.parent_path().filename().string();  // "dir/" normalises to "dir/"
    if (name.empty() || name == "." || name == "..") name = "files";
    if (!top.insert(name).second) {
      return proto::fail(Errc::usage, "two of the items to send are named \"" +
                                          proto::display_name(name) + "\"; rename one of them");
    }
    if (auto r = src.add(abs, name); !r) return std::unexpected(r.error());
  }
  if (src.offer_.entries.empty()) return proto::fail(Errc::usage, "nothing to send");
  if (src.offer_.entries.size() > proto::kMaxOfferEntries) {
    return proto::fail(Errc::usage, std::to_string(src.offer_.entries.size()) +
                                        " files and folders are more than one transfer carries (" +
                                        std::to_string(proto::kMaxOfferEntries) +
                                        "); send an archive instead: tar c FOLDER | ferry send -");
  }
  // What receivers would refuse is refused here, before anyone waits for it.
  for (const auto& e : src.offer_.entries) {
    if (auto ok = proto::split_relative_path(e.path); !ok) {
      return proto::fail(Errc::usage, "cannot send: " + ok.error().detail +
                                          ", which receivers refuse; rename it or send an archive");
    }
  }
  return src;
}

proto::Result<void> FileSource::add(const fs::path& path, const std::string& name) {
  std::error_code ec;
  const auto st = fs::status(path, ec);
  if (fs::is_regular_file(st)) {
    const auto size = fs::file_size(path, ec);
    if (ec)
      return proto::fail(Errc::io_error, "cannot read \"" + path.string() + "\": " + ec.message());
    if (::access(path.c_str(), R_OK) != 0) {
      return proto::fail(Errc::io_error, "cannot read \"" + proto::display_name(path.string()) +
                                             "\": " + std::strerror(errno));
    }
    offer_.entries.push_back({name, OfferEntry::Kind::file, size, executable(st)});
    offer_.entries.back().mtime = modified(path);
    sources_.push_back(path);
    return {};
  }
  if (!fs::is_directory(st)) {
    return proto::fail(Errc::usage, "\"" + proto::display_name(path.string()) +
                                        "\" is neither a file nor a folder");
  }
  offer_.entries.push_back({name, OfferEntry::Kind::directory, 0, false});
  offer_.entries.back().mtime = modified(path);
  sources_.emplace_back();
  std::vector<fs::directory_entry> children;
  for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
    children.push_back(*it);
  }
  if (ec)
    return proto::fail(Errc::io_error, "cannot list \"" + path.string() + "\": " + ec.message());
  std::sort(children.begin(), children.end());
  for (const auto& child : children) {
    const std::string child_name = name + "/" + child.path().filename().string();
    const auto lst = child.symlink_status(ec);
    if (fs::is_symlink(lst) || !(fs::is_regular_file(lst) || fs::is_directory(lst))) {
      skipped_.push_back(child_name);  // links could point outside the folder: never follow
      continue;
    }
    if (auto r = add(child.path(), child_name); !r) return r;
  }
  return {};
}

proto::Result<FileSource> FileSource::from_stdin(int fd, const std::string& name) {
  if (auto parts = proto::split_relative_path(name); !parts || parts->size() != 1) {
    return proto::fail(Errc::usage, "--name must be a plain file name");
  }
  FileSource src;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
    // ferry send - < file: a file after all, with a size, read through its descriptor.
    src.offer_.entries.push_back(
        {name, OfferEntry::Kind::file, static_cast<std::uint64_t>(st.st_size), false});
    src.offer_.entries.back().mtime = seconds_of(st);
    src.sources_.push_back("/proc/self/fd/" + std::to_string(fd));
    return src;
  }
  OfferEntry entry{name, OfferEntry::Kind::file, 0, false};
  entry.streamed = true;
  src.offer_.entries.push_back(entry);
  src.sources_.emplace_back();
  src.stream_fd_ = fd;
  return src;
}

proto::Result<FileSource> FileSource::from_text(std::string text) {
  if (text.size() > proto::kMaxTextBytes) {
    return proto::fail(Errc::usage, "the text is too long for --text; send it as a file");
  }
  FileSource src;
  src.offer_.kind = proto::Offer::Kind::text;
  src.offer_.text = std::move(text);
  return src;
}

}  // namespace ferry::session
