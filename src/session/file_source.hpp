// What the sender offers, built from the command line: files and whole folders (relative layout,
// executable bits), standard input (a file behind it is sent as a file; a pipe is streamed as it
// is read, its size unknown until it ends), or a text message.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "proto/offer.hpp"

namespace ferry::session {

class FileSource {
 public:
  static proto::Result<FileSource> from_paths(const std::vector<std::filesystem::path>& paths);
  // A regular file on fd is offered with its size (and can be resumed); anything else (a pipe, a
  // terminal) is offered as a stream and read while sending.
  static proto::Result<FileSource> from_stdin(int fd, const std::string& name);
  static proto::Result<FileSource> from_text(std::string text);

  FileSource(FileSource&& other) noexcept;
  FileSource& operator=(FileSource&&) = delete;
  ~FileSource();

  const proto::Offer& offer() const { return offer_; }
  // Where entry i's bytes come from (empty for directories).
  const std::filesystem::path& source(std::size_t i) const { return sources_[i]; }
  const std::vector<std::string>& skipped() const { return skipped_; }
  // Where a streamed entry's bytes come from (the descriptor given to from_stdin).
  int stream_fd() const { return stream_fd_; }

 private:
  FileSource() = default;
  proto::Result<void> add(const std::filesystem::path& path, const std::string& name);

  proto::Offer offer_;
  std::vector<std::filesystem::path> sources_;
  std::vector<std::string> skipped_;  // symlinks and special files inside folders
  int stream_fd_ = -1;
};

}  // namespace ferry::session
