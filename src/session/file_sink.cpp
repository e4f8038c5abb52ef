#include "session/file_sink.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "proto/names.hpp"

namespace ferry::session {

using proto::Errc;
using proto::OfferEntry;

namespace {
constexpr int kDirFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

proto::Error write_error(int err, const std::string& name, std::uint64_t written) {
  if (err == ENOSPC || err == EDQUOT) {
    return {Errc::disk_full, "the disk is full after " + std::to_string(written) + " bytes of \"" +
                                 name + "\"; free some space and receive again to resume"};
  }
  return {Errc::io_error, "writing \"" + name + "\" failed: " + std::strerror(err)};
}

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}
}  // namespace

proto::Result<FileSink> FileSink::open(const std::filesystem::path& folder, bool overwrite) {
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
      parent_fd_(std::exchange(o.parent_fd_, -1)),
      file_fd_(std::exchange(o.file_fd_, -1)),
      name_(std::move(o.name_)),
      display_(std::move(o.display_)),
      executable_(o.executable_),
      written_(o.written_) {}

FileSink::~FileSink() {
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

proto::Result<void> FileSink::check(const proto::Offer& offer) const {
  for (const auto& e : offer.entries) {
    auto parts = proto::split_relative_path(e.path);
    if (!parts) return std::unexpected(parts.error());
    auto parent = open_parent(*parts, false);
    if (!parent) return std::unexpected(parent.error());
    if (*parent < 0) continue;
    struct stat st {};
    const bool exists = ::fstatat(*parent, parts->back().c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
    ::close(*parent);
    if (!exists) continue;
    if (e.kind == OfferEntry::Kind::directory) {
      if (!S_ISDIR(st.st_mode)) {
        return proto::fail(Errc::target_exists, "\"" + proto::display_name(e.path) +
                                                    "\" already exists and is not a folder");
      }
    } else if (S_ISDIR(st.st_mode)) {
      return proto::fail(Errc::target_exists,
                         "\"" + proto::display_name(e.path) + "\" already exists as a folder");
    } else if (!overwrite_) {
      return proto::fail(Errc::target_exists,
                         "\"" + proto::display_name(e.path) +
                             "\" already exists; nothing was received. Use --overwrite to "
                             "replace it, or --output to receive elsewhere");
    }
  }
  return {};
}

std::vector<std::uint64_t> FileSink::resume_offsets(const proto::Offer& offer) const {
  std::vector<std::uint64_t> out(offer.entries.size(), 0);
  for (std::size_t i = 0; i < offer.entries.size(); ++i) {
    const auto& e = offer.entries[i];
    if (e.kind != OfferEntry::Kind::file) continue;
    auto parts = proto::split_relative_path(e.path);
    if (!parts) continue;
    auto parent = open_parent(*parts, false);
    if (!parent || *parent < 0) continue;
    struct stat st {};
    const std::string part = parts->back() + std::string(kPartSuffix);
    if (::fstatat(*parent, part.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
        static_cast<std::uint64_t>(st.st_size) <= e.size) {
      out[i] = static_cast<std::uint64_t>(st.st_size);
    }
    ::close(*parent);
  }
  return out;
}

proto::Result<void> FileSink::make_folders(const proto::Offer& offer) {
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
  const auto& e = offer.entries[index];
  auto parts = proto::split_relative_path(e.path);
  if (!parts) return std::unexpected(parts.error());
  auto parent = open_parent(*parts, true);
  if (!parent) return std::unexpected(parent.error());
  parent_fd_ = *parent;
  name_ = parts->back();
  display_ = proto::display_name(e.path);
  executable_ = e.executable;
  const std::string part = name_ + std::string(kPartSuffix);
  file_fd_ = ::openat(parent_fd_, part.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (file_fd_ < 0) {
    return proto::fail(
        errno == ELOOP ? Errc::bad_offer : Errc::io_error,
        "cannot create \"" + display_ + std::string(kPartSuffix) + "\": " + std::strerror(errno));
  }
  // Keep exactly the agreed prefix and hash it; anything past it is discarded.
  if (::ftruncate(file_fd_, static_cast<off_t>(start)) != 0) {
    return std::unexpected(write_error(errno, display_, 0));
  }
  std::vector<std::uint8_t> buf(1 << 20);
  for (std::uint64_t done = 0; done < start;) {
    const ssize_t n =
        ::pread(file_fd_, buf.data(), std::min<std::uint64_t>(buf.size(), start - done),
                static_cast<off_t>(done));
    if (n <= 0) return proto::fail(Errc::io_error, "cannot reread \"" + display_ + "\" to resume");
    tracker.absorb_prefix(index, proto::ByteView(buf.data(), static_cast<std::size_t>(n)));
    done += static_cast<std::uint64_t>(n);
  }
  if (::lseek(file_fd_, static_cast<off_t>(start), SEEK_SET) < 0) {
    return proto::fail(Errc::io_error, "cannot seek in \"" + display_ + "\"");
  }
  written_ = start;
  return {};
}

proto::Result<void> FileSink::write(proto::ByteView data) {
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
  const mode_t mode = executable_ ? 0755 : 0644;
  const mode_t mask = ::umask(0);
  ::umask(mask);
  if (::fchmod(file_fd_, mode & ~mask) != 0 || ::close(file_fd_) != 0) {
    file_fd_ = -1;
    return std::unexpected(write_error(errno, display_, written_));
  }
  file_fd_ = -1;
  const std::string part = name_ + std::string(kPartSuffix);
  const unsigned flags = overwrite_ ? 0 : RENAME_NOREPLACE;
  if (::renameat2(parent_fd_, part.c_str(), parent_fd_, name_.c_str(), flags) != 0) {
    const int err = errno;
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
  return {};
}

void FileSink::discard() {
  close_fd(file_fd_);
  if (parent_fd_ >= 0) ::unlinkat(parent_fd_, (name_ + std::string(kPartSuffix)).c_str(), 0);
  close_fd(parent_fd_);
}

void FileSink::abandon() {
  close_fd(file_fd_);
  close_fd(parent_fd_);
}

}  // namespace ferry::session
