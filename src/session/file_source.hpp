// What the sender offers, built from the command line: files and whole folders (relative layout,
// executable bits), standard input spooled to a temporary file, or a text message.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "proto/offer.hpp"

namespace ferry::session {

class FileSource {
 public:
  static proto::Result<FileSource> from_paths(const std::vector<std::filesystem::path>& paths);
  // Reads all of fd into a temporary file first: the offer must state the size.
  static proto::Result<FileSource> from_stdin(int fd, std::string name);
  static proto::Result<FileSource> from_text(std::string text);

  FileSource(FileSource&& other) noexcept;
  FileSource& operator=(FileSource&&) = delete;
  ~FileSource();

  const proto::Offer& offer() const { return offer_; }
  // Where entry i's bytes come from (empty for directories).
  const std::filesystem::path& source(std::size_t i) const { return sources_[i]; }
  const std::vector<std::string>& skipped() const { return skipped_; }

 private:
  FileSource() = default;
  proto::Result<void> add(const std::filesystem::path& path, const std::string& name);

  proto::Offer offer_;
  std::vector<std::filesystem::path> sources_;
  std::vector<std::string> skipped_;  // symlinks and special files inside folders
  std::filesystem::path spool_;       // removed on destruction
};

}  // namespace ferry::session
