// The zip a magic-wormhole directory arrives as, read with Debian's minizip: listed and checked
// whole (names by ferry's rules; links, devices, duplicates and sizes past the offer refused)
// before a byte is extracted, then extracted through the FileSink like any received file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string_view>
#include <vector>

#include "proto/offer.hpp"
#include "session/file_sink.hpp"
#include "session/file_source.hpp"

namespace ferry::session {

class ZipArchive {
 public:
  static proto::Result<ZipArchive> open(const std::filesystem::path& path);
  ZipArchive(ZipArchive&&) noexcept;
  ZipArchive& operator=(ZipArchive&&) = delete;
  ~ZipArchive();

  // The archive's entries as an offer of `folder` and what is under it (implied folders
  // included). Refused with bad_offer: a name ferry would refuse from its own peers, a link or
  // device, a name twice, a file that is also a folder, more than max_files entries or more
  // than max_bytes once inflated.
  proto::Result<proto::Offer> listing(std::string_view folder, std::uint64_t max_files,
                                      std::uint64_t max_bytes);
  // Extracts the files of listing()'s offer into the sink, each checked against its size and
  // CRC; a file that fails is discarded.
  proto::Result<void> extract(const proto::Offer& offer, FileSink& sink);

 private:
  struct Impl;
  explicit ZipArchive(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// What a wormhole directory offer says about its zip.
struct ZipSummary {
  std::uint64_t bytes = 0;  // inflated
  std::uint64_t files = 0;
};
// Writes the source's entries into a deflated zip at `path`, their names without the leading
// `strip` (the top folder and its '/'), with their Unix modes, as wormhole's own sender does.
proto::Result<ZipSummary> write_zip(const FileSource& source, std::string_view strip,
                                    const std::filesystem::path& path);

}  // namespace ferry::session
