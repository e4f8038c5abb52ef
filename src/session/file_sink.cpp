#include "session/file_sink.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>
#include <utility>

#include "proto/names.hpp"

namespace ferry::session {

using proto::Errc;
using proto::OfferEntry;

namespace {
constexpr int kDirFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

proto::Error write_error(int err, const std::string& name, std::uint64_t written) {
  if (err == ENOSPC || err == EDQUOT) {
    return {Errc::disk_full, "the disk is full after " + proto::human_bytes(written) + " of \"" +
                                 name + "\"; free some space and receive again to resume"};
  }
  return {Errc::io_error, "writing \"" + name + "\" failed: " + std::strerror(err)};
}

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}
}  // namespace

proto::Result<FileSink> FileSink::open_stdout() {
  FileSink sink(-1, "-", false);
  sink.stdout_ = true;
  return sink;
}

proto::Result<FileSink> FileSink::open(const std::filesystem::path& folder, bool overwrite) {
  std::error_code ec;
  if (!std::filesystem::exists(folder, ec)) {
    std::filesystem::create_directories(folder, ec);
    if (ec) {
      return proto::fail(Errc::io_error, "cannot create \"" + proto::display_name(folder.string()) +
                                             "\": " + ec.message());
    }
  }
  const int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return proto::fail(Errc::io_error, "cannot write into \"" +
                                           proto::display_name(folder.string()) +
                                           "\": " + std::strerror(errno));
  }
  if (::faccessat(fd, ".", W_OK, 0) != 0) {
    ::close(fd);
    return proto::fail(
        Errc::io_error,
        "cannot write into \"" + proto::display_name(folder.string()) + "\": permission denied");
  }
  return FileSink(fd, folder, overwrite);
}

FileSink::FileSink(FileSink&& o) noexcept
    : dir_fd_(std::exchange(o.dir_fd_, -1)),
      folder_(std::move(o.folder_)),
      overwrite_(o.overwrite_),
      stdout_(o.stdout_),
      parent_fd_(std::exchange(o.parent_fd_, -1)),
      file_fd_(std::exchange(o.file_fd_, -1)),
      name_(std::move(o.name_)),
      display_(std::move(o.display_)),
      executable_(o.executable_),
      mtime_(o.mtime_),
      written_(o.written_),
      adopted_(o.adopted_) {}

FileSink::~FileSink() {
  if (stdout_) file_fd_ = -1;  // stdout is not ours to close
  close_fd(file_fd_);
  close_fd(parent_fd_);
  close_fd(dir_fd_);
}

proto::Result<int> FileSink::open_parent(const std::vector<std::string>& parts, bool create) const {
  int fd = ::dup(dir_fd_);
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    int next = ::openat(fd, parts[i].c_str(), kDirFlags);
    if (next < 0 && errno == ENOENT && create) {
      if (::mkdirat(fd, parts[i].c_str(), 0755) != 0 && errno != EEXIST) {
        const int err = errno;
        ::close(fd);
        return proto::fail(err == ENOSPC ? Errc::disk_full : Errc::io_error,
                           "cannot create folder \"" + proto::display_name(parts[i]) +
                               "\": " + std::strerror(err));
      }
      next = ::openat(fd, parts[i].c_str(), kDirFlags);
    }
    const int err = errno;
    ::close(fd);
    if (next < 0) {
      if (err == ENOENT && !create) return -1;  // nothing there yet: nothing to collide with
      if (err == ELOOP || err == ENOTDIR) {
        return proto::fail(Errc::bad_offer, "\"" + proto::display_name(parts[i]) +
                                                "\" in the target folder is a link or a file, and "
                                                "ferry will not write through it");
      }
      return proto::fail(Errc::io_error, "cannot open folder \"" + proto::display_name(parts[i]) +
                                             "\": " + std::strerror(err));
    }
    fd = next;
  }
  return fd;
}

namespace {
// What is at `path` in the target folder: nothing (-1), a folder (1), anything else (0).
int existing_kind(int parent, const std::string& name) {
  struct stat st {};
  if (::fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return -1;
  return S_ISDIR(st.st_mode) ? 1 : 0;
}

// A regular file of no bytes (a part file holding nothing to lose), not followed if a link.
bool empty_file(int parent, const std::string& name) {
  struct stat st {};
  return ::fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
         st.st_size == 0;
}

// Whether a transfer (in this process or another) holds the part file: it keeps an exclusive
// flock(2) on it from begin() until the file is committed, abandoned or discarded.
bool owned_elsewhere(int parent, const std::string& part) {
  const int fd = ::openat(parent, part.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return false;
  const bool owned = ::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  ::close(fd);  // (and with it the shared lock, if it was had)
  return owned;
}

std::string owned_sentence(const std::string& display_part) {
  return "\"" + display_part +
         "\" is being received by another transfer right now; it was left as it is: wait for "
         "that one, or receive with --output elsewhere";
}
}  // namespace

proto::Result<std::vector<std::size_t>> FileSink::conflicts(const proto::Offer& offer) const {
  std::vector<std::size_t> out;
  if (stdout_) return out;
  for (std::size_t i = 0; i < offer.entries.size(); ++i) {
    const auto& e = offer.entries[i];
    auto parts = proto::split_relative_path(e.path);
    if (!parts) return std::unexpected(parts.error());
    auto parent = open_parent(*parts, false);
    if (!parent) return std::unexpected(parent.error());
    if (*parent < 0) continue;
    const int kind = existing_kind(*parent, parts->back());
    ::close(*parent);
    if (kind < 0) continue;
    if (e.kind == OfferEntry::Kind::directory) {
      if (kind != 1) {
        return proto::fail(Errc::target_exists, "\"" + proto::display_name(e.path) +
                                                    "\" already exists here and is not a folder; "
                                                    "receive with --output into another folder");
      }
    } else {
      out.push_back(i);
    }
  }
  return out;
}

proto::Result<void> FileSink::check(const proto::Offer& offer) const {
  auto found = conflicts(offer);
  if (!found) return std::unexpected(found.error());
  if (found->empty()) return {};
  if (overwrite_) {
    for (auto i : *found) {
      auto parts = proto::split_relative_path(offer.entries[i].path);
      auto parent = open_parent(*parts, false);
      if (!parent) return std::unexpected(parent.error());
      const int kind = existing_kind(*parent, parts->back());
      ::close(*parent);
      if (kind == 1) {
        return proto::fail(Errc::target_exists, "\"" + proto::display_name(offer.entries[i].path) +
                                                    "\" already exists here as a folder");
      }
    }
    return {};
  }
  const auto& first = offer.entries[found->front()].path;
  return proto::fail(
      Errc::target_exists,
      "\"" + proto::display_name(first) + "\"" +
          (found->size() > 1 ? " and " + std::to_string(found->size() - 1) + " more already exist"
                             : " already exists") +
          " here; nothing was received. Use --overwrite to replace, --rename to "
          "keep both, or --output to receive elsewhere");
}

proto::Result<void> FileSink::allow_overwrite(const proto::Offer& offer,
                                              const std::vector<std::size_t>& which) {
  const bool before = std::exchange(overwrite_, true);
  proto::Offer only;
  for (auto i : which) only.entries.push_back(offer.entries[i]);
  auto r = check(only);
  if (!r) overwrite_ = before;
  return r;
}

proto::Result<void> FileSink::rename(proto::Offer& offer,
                                     const std::vector<std::size_t>& which) const {
  std::set<std::string> taken;
  for (const auto& e : offer.entries) taken.insert(e.path);
  // A name in the folder it goes to that neither exists there (nor as a part file) nor is offered:
  // "name (1).ext", "name (2).ext", ... (a folder's name has no extension).
  const auto free_name = [&](int parent, const std::string& dir, const std::string& name,
                             bool folder) -> std::optional<std::string> {
    const auto dot = name.rfind('.');
    const bool has_ext = !folder && dot != std::string::npos && dot > 0;
    const std::string stem = has_ext ? name.substr(0, dot) : name;
    const std::string ext = has_ext ? name.substr(dot) : "";
    for (int k = 1; k <= 9999; ++k) {
      std::string candidate = stem;
      candidate.append(" (").append(std::to_string(k)).append(")").append(ext);
      if (candidate.size() > 255 || taken.count(dir + candidate)) continue;
      if (parent >= 0 && (existing_kind(parent, candidate) >= 0 ||
                          existing_kind(parent, candidate + std::string(kPartSuffix)) >= 0)) {
        continue;
      }
      return candidate;
    }
    return std::nullopt;
  };
  // A file inside an offered folder that exists here: the whole folder is kept apart as
  // "album (1)/", not its files renamed one by one among the old ones.
  std::set<std::string> offered_folders;  // top-level ones
  for (const auto& e : offer.entries) {
    if (e.kind == OfferEntry::Kind::directory && e.path.find('/') == std::string::npos) {
      offered_folders.insert(e.path);
    }
  }
  std::set<std::string> folders;
  std::vector<std::size_t> files;
  for (auto i : which) {
    const auto& path = offer.entries[i].path;
    const auto slash = path.find('/');
    const std::string top = path.substr(0, slash);
    if (slash != std::string::npos && offered_folders.contains(top)) {
      folders.insert(top);
    } else {
      files.push_back(i);
    }
  }
  for (const auto& top : folders) {
    const auto fresh = free_name(dir_fd_, "", top, true);
    if (!fresh) {
      return proto::fail(Errc::target_exists,
                         "no free name for the folder \"" + proto::display_name(top) + "\"");
    }
    taken.insert(*fresh);
    for (auto& e : offer.entries) {
      if (e.path == top) {
        e.path = *fresh;
      } else if (e.path.starts_with(top + "/")) {
        e.path = *fresh + e.path.substr(top.size());
      }
    }
  }
  for (auto i : files) {
    auto& e = offer.entries[i];
    auto parts = proto::split_relative_path(e.path);
    if (!parts) return std::unexpected(parts.error());
    auto parent = open_parent(*parts, false);
    if (!parent) return std::unexpected(parent.error());
    const std::string& name = parts->back();
    const std::string dir = e.path.substr(0, e.path.size() - name.size());
    const auto fresh = free_name(*parent, dir, name, false);
    if (*parent >= 0) ::close(*parent);
    if (!fresh) {
      return proto::fail(Errc::target_exists,
                         "no free name for \"" + proto::display_name(name) + "\" in its folder");
    }
    e.path = dir + *fresh;
    taken.insert(e.path);
  }
  return {};
}

std::vector<std::uint64_t> FileSink::resume_offsets(const proto::Offer& offer) const {
  std::vector<std::uint64_t> out(offer.entries.size(), 0);
  if (stdout_) return out;
  for (std::size_t i = 0; i < offer.entries.size(); ++i) {
    const auto& e = offer.entries[i];
    if (e.kind != OfferEntry::Kind::file || e.streamed) continue;  // streams start over
    if (committed_.count(e.path) != 0) {
      out[i] = e.size;  // put in place before the break: whole
      continue;
    }
    auto parts = proto::split_relative_path(e.path);
    if (!parts) continue;
    auto parent = open_parent(*parts, false);
    if (!parent || *parent < 0) continue;
    struct stat st {};
    const std::string part = parts->back() + std::string(kPartSuffix);
    if (::fstatat(*parent, part.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
        static_cast<std::uint64_t>(st.st_size) <= e.size && !owned_elsewhere(*parent, part)) {
      out[i] = static_cast<std::uint64_t>(st.st_size);
    }
    ::close(*parent);
  }
  return out;
}

proto::Result<void> FileSink::check_room(const proto::Offer& offer,
                                         const std::vector<std::uint64_t>& offsets) const {
  if (stdout_) return {};
  std::uint64_t needed = 0;
  for (std::size_t i = 0; i < offer.entries.size(); ++i) {
    const auto& e = offer.entries[i];
    if (e.kind != OfferEntry::Kind::file) continue;
    needed += e.size - std::min(e.size, offsets[i]);
    if (offsets[i] > 0) continue;  // adopted
    auto parts = proto::split_relative_path(e.path);
    if (!parts) return std::unexpected(parts.error());
    auto parent = open_parent(*parts, false);
    if (!parent) return std::unexpected(parent.error());
    if (*parent < 0) continue;
    const std::string part = parts->back() + std::string(kPartSuffix);
    const bool owned = owned_elsewhere(*parent, part);
    const bool in_the_way =
        owned || (existing_kind(*parent, part) >= 0 && !empty_file(*parent, part));
    ::close(*parent);
    if (!in_the_way) continue;
    if (owned) {
      return proto::fail(Errc::target_exists,
                         owned_sentence(proto::display_name(e.path) + std::string(kPartSuffix)));
    }
    return proto::fail(Errc::target_exists,
                       "\"" + proto::display_name(e.path) + std::string(kPartSuffix) +
                           "\" is here from another transfer and does not fit this one; it was "
                           "left as it is: move it away, or receive with --output elsewhere");
  }
  return check_space(needed);
}

proto::Result<void> FileSink::check_space(std::uint64_t needed) const {
  if (stdout_) return {};
  struct statvfs fs {};
  if (::fstatvfs(dir_fd_, &fs) == 0) {
    const std::uint64_t free = static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
    if (needed > free) {
      return proto::fail(Errc::disk_full, "the offer needs " + proto::human_bytes(needed) +
                                              " and " + proto::display_name(folder_.string()) +
                                              " has " + proto::human_bytes(free) +
                                              " free; nothing was received");
    }
  }
  return {};
}

proto::Result<void> FileSink::make_folders(const proto::Offer& offer) {
  if (stdout_) return {};
  for (const auto& e : offer.entries) {
    auto parts = proto::split_relative_path(e.path);
    if (!parts) return std::unexpected(parts.error());
    if (e.kind == OfferEntry::Kind::directory) parts->push_back(".");  // create e.path itself
    auto parent = open_parent(*parts, true);
    if (!parent) return std::unexpected(parent.error());
    ::close(*parent);
  }
  return {};
}

proto::Result<void> FileSink::begin(const proto::Offer& offer, std::uint32_t index,
                                    std::uint64_t start, proto::ReceiveTracker& tracker) {
  abandon();
  adopted_ = 0;
  const auto& e = offer.entries[index];
  if (stdout_) {
    display_ = "stdout";
    written_ = 0;
    file_fd_ = STDOUT_FILENO;
    return {};
  }
  auto parts = proto::split_relative_path(e.path);
  if (!parts) return std::unexpected(parts.error());
  auto parent = open_parent(*parts, true);
  if (!parent) return std::unexpected(parent.error());
  parent_fd_ = *parent;
  name_ = parts->back();
  display_ = proto::display_name(e.path);
  executable_ = e.executable;
  mtime_ = e.mtime;
  path_ = e.path;
  if (committed_.count(e.path) != 0 && start == e.size) {
    // Put in place by this transfer before it broke off: read back for the sender's hash.
    file_fd_ = ::openat(parent_fd_, name_.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (file_fd_ < 0) {
      return proto::fail(Errc::io_error, "cannot reopen \"" + display_ +
                                             "\" (received before the "
                                             "break) to check it: " +
                                             std::strerror(errno));
    }
    checking_ = true;
    written_ = start;
    return hash_prefix(start, index, tracker);
  }
  const std::string part = name_ + std::string(kPartSuffix);
  // A fresh file never takes over a part file this transfer did not adopt (check_room said so
  // before accepting; this holds even if one appeared since), except an empty one nobody holds.
  if (start == 0 && empty_file(parent_fd_, part) && !owned_elsewhere(parent_fd_, part)) {
    ::unlinkat(parent_fd_, part.c_str(), 0);
  }
  file_fd_ = ::openat(parent_fd_, part.c_str(),
                      O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | (start == 0 ? O_EXCL : 0), 0600);
  if (file_fd_ < 0) {
    return proto::fail(
        errno == ELOOP    ? Errc::bad_offer
        : errno == EEXIST ? Errc::target_exists
                          : Errc::io_error,
        "cannot create \"" + display_ + std::string(kPartSuffix) + "\": " + std::strerror(errno));
  }
  // Ours until committed, abandoned or discarded: no other transfer adopts, truncates or deletes
  // it meanwhile (one that adopted it before we came is refused here).
  if (::flock(file_fd_, LOCK_EX | LOCK_NB) != 0) {
    close_fd(file_fd_);
    return proto::fail(Errc::target_exists, owned_sentence(display_ + std::string(kPartSuffix)));
  }
  adopted_ = start;
  // Keep exactly the agreed prefix and hash it; anything past it is discarded.
  if (::ftruncate(file_fd_, static_cast<off_t>(start)) != 0) {
    return std::unexpected(write_error(errno, display_, 0));
  }
  if (auto r = hash_prefix(start, index, tracker); !r) return r;
  if (::lseek(file_fd_, static_cast<off_t>(start), SEEK_SET) < 0) {
    return proto::fail(Errc::io_error, "cannot seek in \"" + display_ + "\"");
  }
  written_ = start;
  return {};
}

proto::Result<void> FileSink::hash_prefix(std::uint64_t start, std::uint32_t index,
                                          proto::ReceiveTracker& tracker) const {
  // (Sized to the prefix: a fresh file, the common case, allocates nothing.)
  std::vector<std::uint8_t> buf(static_cast<std::size_t>(std::min<std::uint64_t>(start, 1 << 20)));
  for (std::uint64_t done = 0; done < start;) {
    const ssize_t n =
        ::pread(file_fd_, buf.data(), std::min<std::uint64_t>(buf.size(), start - done),
                static_cast<off_t>(done));
    if (n <= 0) return proto::fail(Errc::io_error, "cannot reread \"" + display_ + "\" to resume");
    tracker.absorb_prefix(index, proto::ByteView(buf.data(), static_cast<std::size_t>(n)));
    done += static_cast<std::uint64_t>(n);
  }
  return {};
}

proto::Result<void> FileSink::write(proto::ByteView data) {
  if (checking_) return proto::fail(Errc::protocol, "the sender sent bytes of a whole file");
  while (!data.empty()) {
    const ssize_t n = ::write(file_fd_, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::unexpected(write_error(errno, display_, written_));
    data = data.subspan(static_cast<std::size_t>(n));
    written_ += static_cast<std::uint64_t>(n);
  }
  return {};
}

proto::Result<void> FileSink::commit() {
  if (stdout_) {
    file_fd_ = -1;
    return {};
  }
  if (std::exchange(checking_, false)) {
    close_fd(file_fd_);
    close_fd(parent_fd_);
    return {};
  }
  const mode_t mode = executable_ ? 0755 : 0644;
  const mode_t mask = ::umask(0);
  ::umask(mask);
  if (::fchmod(file_fd_, mode & ~mask) != 0) {
    const int err = errno;
    close_fd(file_fd_);
    return std::unexpected(write_error(err, display_, written_));
  }
  if (mtime_) {
    // The sender's time; a file system that cannot keep it loses nothing else.
    const std::array<timespec, 2> times{timespec{0, UTIME_OMIT}, timespec{*mtime_, 0}};
    ::futimens(file_fd_, times.data());
  }
  // Renamed while still open and locked, so no other transfer sees it unheld under its part name.
  const std::string part = name_ + std::string(kPartSuffix);
  const unsigned flags = overwrite_ ? 0 : RENAME_NOREPLACE;
  const int renamed = ::renameat2(parent_fd_, part.c_str(), parent_fd_, name_.c_str(), flags);
  const int rename_err = errno;
  if (::close(std::exchange(file_fd_, -1)) != 0 && renamed == 0) {
    return std::unexpected(write_error(errno, display_, written_));
  }
  if (renamed != 0) {
    const int err = rename_err;
    if (err == EEXIST) {
      return proto::fail(Errc::target_exists, "\"" + display_ +
                                                  "\" appeared while receiving; the "
                                                  "received copy is kept as \"" +
                                                  display_ + std::string(kPartSuffix) + "\"");
    }
    return proto::fail(Errc::io_error,
                       "cannot rename \"" + display_ + "\" into place: " + std::strerror(err));
  }
  close_fd(parent_fd_);
  committed_.insert(path_);
  return {};
}

void FileSink::date_folders(const proto::Offer& offer) const {
  if (stdout_) return;
  // Entries list a folder before what it holds: backwards, a folder comes after its contents.
  for (auto it = offer.entries.rbegin(); it != offer.entries.rend(); ++it) {
    if (it->kind != OfferEntry::Kind::directory || !it->mtime) continue;
    auto parts = proto::split_relative_path(it->path);
    if (!parts) continue;
    parts->push_back(".");
    auto fd = open_parent(*parts, false);
    if (!fd) continue;
    const std::array<timespec, 2> times{timespec{0, UTIME_OMIT}, timespec{*it->mtime, 0}};
    ::futimens(*fd, times.data());
    ::close(*fd);
  }
}

void FileSink::discard() {
  if (stdout_) {
    file_fd_ = -1;
    return;
  }
  if (std::exchange(checking_, false)) {
    // Ours, whole, and now not the sender's file (it changed since): left as it is.
    close_fd(file_fd_);
    close_fd(parent_fd_);
    return;
  }
  // What this transfer adopted was there before it (an earlier attempt's bytes): it is cut back
  // to that, never deleted. A file it started itself goes (it holds the lock, so it is its own).
  if (adopted_ > 0 && file_fd_ >= 0) {
    // (Should cutting fail, the part file stays as it is; the error reported is the hash's.)
    [[maybe_unused]] const int cut = ::ftruncate(file_fd_, static_cast<off_t>(adopted_));
  } else if (file_fd_ >= 0 && parent_fd_ >= 0) {
    ::unlinkat(parent_fd_, (name_ + std::string(kPartSuffix)).c_str(), 0);
  }
  close_fd(file_fd_);
  close_fd(parent_fd_);
}

void FileSink::abandon() {
  checking_ = false;
  if (stdout_) {
    file_fd_ = -1;
    return;
  }
  close_fd(file_fd_);
  close_fd(parent_fd_);
}

}  // namespace ferry::session
