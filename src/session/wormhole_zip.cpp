#include "session/wormhole_zip.hpp"

#include <sys/stat.h>

#include <array>
#include <map>
#include <set>

#include <fcntl.h>
#include <unistd.h>
#include <unzip.h>
#include <zip.h>

#include <cerrno>
#include <cstring>

#include "proto/names.hpp"
#include "proto/transfer_state.hpp"

namespace ferry::session {

using proto::Errc;

namespace {

constexpr unsigned kMadeOnUnix = 3;  // "version made by" high byte: external_fa holds a mode
constexpr std::size_t kReadBytes = std::size_t{256} * 1024;

proto::Result<void> refused(std::string_view name, std::string_view why) {
  return proto::fail(Errc::bad_offer, "the wormhole sender's zip holds \"" +
                                          proto::display_name(name) + "\", " + std::string(why) +
                                          "; nothing was extracted");
}

}  // namespace

struct ZipArchive::Impl {
  unzFile zip = nullptr;
  // Where each file entry of the listing sits in the archive.
  // Where each file entry of the listing is in the zip, by its index in the offer: the receiver
  // may give entries other names (keeping both) before they are extracted.
  std::vector<std::optional<unz64_file_pos>> positions;
  ~Impl() {
    if (zip != nullptr) unzClose(zip);
  }
};

ZipArchive::ZipArchive(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ZipArchive::ZipArchive(ZipArchive&&) noexcept = default;
ZipArchive::~ZipArchive() = default;

proto::Result<ZipArchive> ZipArchive::open(const std::filesystem::path& path) {
  auto impl = std::make_unique<Impl>();
  impl->zip = unzOpen64(path.c_str());
  if (impl->zip == nullptr)
    return proto::fail(Errc::bad_offer, "the wormhole sender's directory is not a readable zip");
  return ZipArchive(std::move(impl));
}

proto::Result<proto::Offer> ZipArchive::listing(std::string_view folder, std::uint64_t max_files,
                                                std::uint64_t max_bytes) {
  proto::Offer offer;
  offer.kind = proto::Offer::Kind::files;
  std::set<std::string> folders;
  std::set<std::string> files;
  const auto add_folder = [&](const std::string& path) {
    if (folders.insert(path).second)
      offer.entries.push_back({path, proto::OfferEntry::Kind::directory, 0, false});
  };
  add_folder(std::string(folder));
  std::uint64_t total = 0;
  std::uint64_t count = 0;
  impl_->positions.clear();
  for (int rc = unzGoToFirstFile(impl_->zip); rc != UNZ_END_OF_LIST_OF_FILE;
       rc = unzGoToNextFile(impl_->zip)) {
    if (rc != UNZ_OK)
      return proto::fail(Errc::bad_offer,
                         "the wormhole sender's zip is damaged; nothing was extracted");
    if (++count > max_files)
      return proto::fail(Errc::bad_offer,
                         "the wormhole sender's zip holds more entries than it "
                         "offered; nothing was extracted");
    unz_file_info64 info{};
    std::array<char, proto::kMaxPathBytes + 1> name_buf{};
    if (unzGetCurrentFileInfo64(impl_->zip, &info, name_buf.data(), name_buf.size(), nullptr, 0,
                                nullptr, 0) != UNZ_OK ||
        info.size_filename > proto::kMaxPathBytes)
      return proto::fail(Errc::bad_offer,
                         "the wormhole sender's zip has an unreadable or over-long "
                         "name; nothing was extracted");
    std::string name(name_buf.data(), info.size_filename);
    const bool is_folder = name.ends_with('/');
    if (is_folder) name.pop_back();
    if ((info.version >> 8) == kMadeOnUnix) {
      const auto mode = static_cast<mode_t>(info.external_fa >> 16);
      const auto type = mode & S_IFMT;
      if (type == S_IFLNK) return std::unexpected(refused(name, "a symbolic link").error());
      if (type != 0 && type != S_IFREG && type != S_IFDIR)
        return std::unexpected(refused(name, "a device or other special file").error());
    }
    auto parts = proto::split_relative_path(name);
    if (!parts)
      return std::unexpected(refused(name, "a name that could land outside the folder").error());
    std::string path(folder);
    for (std::size_t i = 0; i + 1 < parts->size(); ++i) {
      path += "/" + (*parts)[i];
      if (files.contains(path))
        return std::unexpected(refused(name, "a file inside a file").error());
      add_folder(path);
    }
    path += "/" + parts->back();
    if (path.size() > proto::kMaxPathBytes)
      return std::unexpected(refused(name, "a name over 4096 bytes").error());
    if (is_folder) {
      if (files.contains(path))
        return std::unexpected(refused(name, "a file and a folder").error());
      add_folder(path);
      continue;
    }
    if (folders.contains(path) || !files.insert(path).second)
      return std::unexpected(refused(name, "twice").error());
    total += info.uncompressed_size;
    if (info.uncompressed_size > max_bytes || total > max_bytes)
      return proto::fail(Errc::bad_offer,
                         "the wormhole sender's zip inflates to more than it "
                         "offered; nothing was extracted");
    const bool executable = (info.version >> 8) == kMadeOnUnix && (info.external_fa >> 16) & 0100;
    offer.entries.push_back(
        {path, proto::OfferEntry::Kind::file, info.uncompressed_size, executable});
    unz64_file_pos pos{};
    unzGetFilePos64(impl_->zip, &pos);
    impl_->positions.resize(offer.entries.size());
    impl_->positions.back() = pos;
  }
  return offer;
}

proto::Result<void> ZipArchive::extract(const proto::Offer& offer, FileSink& sink) {
  std::vector<std::uint8_t> buf(kReadBytes);
  const std::vector<std::uint64_t> fresh(offer.entries.size(), 0);
  proto::ReceiveTracker tracker(offer, fresh, proto::HashScope::prefix);
  for (std::uint32_t i = 0; i < offer.entries.size(); ++i) {
    const auto& e = offer.entries[i];
    if (e.kind != proto::OfferEntry::Kind::file) continue;
    if (i >= impl_->positions.size() || !impl_->positions[i])
      return refused(e.path, "an entry the listing did not have");
    auto pos = *impl_->positions[i];
    if (unzGoToFilePos64(impl_->zip, &pos) != UNZ_OK || unzOpenCurrentFile(impl_->zip) != UNZ_OK)
      return refused(e.path, "an entry that cannot be read");
    if (auto r = sink.begin(offer, i, 0, tracker); !r) {
      unzCloseCurrentFile(impl_->zip);
      return r;
    }
    std::uint64_t written = 0;
    for (;;) {
      const int n = unzReadCurrentFile(impl_->zip, buf.data(), static_cast<unsigned>(buf.size()));
      if (n == 0) break;
      written += n > 0 ? static_cast<std::uint64_t>(n) : 0;
      // A declared size is a promise: past it, the entry is a bomb, not a file.
      if (n < 0 || written > e.size) {
        unzCloseCurrentFile(impl_->zip);
        sink.discard();
        return refused(e.path, n < 0 ? "damaged data" : "more bytes than its header says");
      }
      if (auto r = sink.write({buf.data(), static_cast<std::size_t>(n)}); !r) {
        unzCloseCurrentFile(impl_->zip);
        sink.discard();
        return r;
      }
    }
    if (unzCloseCurrentFile(impl_->zip) != UNZ_OK || written != e.size) {
      sink.discard();
      return refused(e.path, "data that fails its CRC or size");
    }
    if (auto r = sink.commit(); !r) return r;
  }
  return {};
}

proto::Result<ZipSummary> write_zip(const FileSource& source, std::string_view strip,
                                    const std::filesystem::path& path) {
  zipFile zip = zipOpen64(path.c_str(), APPEND_STATUS_CREATE);
  if (zip == nullptr)
    return proto::fail(Errc::io_error, "cannot create the zip for wormhole at " +
                                           proto::display_name(path.string()));
  ZipSummary summary;
  std::vector<char> buf(kReadBytes);
  const auto failed = [&](const std::string& what) {
    zipClose(zip, nullptr);
    return proto::fail(Errc::io_error, what);
  };
  const auto& entries = source.offer().entries;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i];
    if (!e.path.starts_with(strip)) continue;  // the top folder itself
    const std::string name =
        e.path.substr(strip.size()) + (e.kind == proto::OfferEntry::Kind::directory ? "/" : "");
    zip_fileinfo zi{};
    const mode_t mode = e.kind == proto::OfferEntry::Kind::directory ? (S_IFDIR | 0755)
                        : e.executable                               ? (S_IFREG | 0755)
                                                                     : (S_IFREG | 0644);
    zi.external_fa = static_cast<uLong>(mode) << 16;
    if (zipOpenNewFileInZip4_64(zip, name.c_str(), &zi, nullptr, 0, nullptr, 0, nullptr, Z_DEFLATED,
                                Z_DEFAULT_COMPRESSION, 0, -MAX_WBITS, DEF_MEM_LEVEL,
                                Z_DEFAULT_STRATEGY, nullptr, 0, (kMadeOnUnix << 8) | 45, 0,
                                1) != ZIP_OK)
      return failed("cannot add \"" + proto::display_name(e.path) + "\" to the zip");
    if (e.kind == proto::OfferEntry::Kind::file) {
      const int fd = ::open(source.source(i).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
      if (fd < 0)
        return failed("cannot read \"" + proto::display_name(e.path) +
                      "\": " + std::strerror(errno));
      std::uint64_t copied = 0;
      for (;;) {
        const ssize_t n = ::read(fd, buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        copied += static_cast<std::uint64_t>(n);
        if (zipWriteInFileInZip(zip, buf.data(), static_cast<unsigned>(n)) != ZIP_OK) {
          ::close(fd);
          return failed("cannot write the zip for wormhole (disk full?)");
        }
      }
      ::close(fd);
      summary.bytes += copied;
      ++summary.files;
    }
    if (zipCloseFileInZip(zip) != ZIP_OK) return failed("cannot write the zip for wormhole");
  }
  if (zipClose(zip, nullptr) != ZIP_OK)
    return proto::fail(Errc::io_error, "cannot finish the zip for wormhole");
  return summary;
}

}  // namespace ferry::session
