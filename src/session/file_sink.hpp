// Where received bytes land: under one target folder, never outside it. Every path component is
// opened relative to the folder with O_NOFOLLOW, so neither ".." nor a symlink planted in the
// folder can redirect a write. Files grow as "<name>.ferry-part" and are renamed into place only
// after their hash is verified, without replacing an existing file unless asked to.
#pragma once

#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "proto/names.hpp"
#include "proto/offer.hpp"
#include "proto/transfer_state.hpp"

namespace ferry::session {

using proto::kPartSuffix;

class FileSink {
 public:
  // The folder (and its parents) is created when missing.
  static proto::Result<FileSink> open(const std::filesystem::path& folder, bool overwrite);
  // One file written to stdout as it arrives (-o -): no names, no resume, nothing renamed. A
  // failed hash can only be reported, since the bytes already went out.
  static proto::Result<FileSink> open_stdout();
  bool to_stdout() const { return stdout_; }
  FileSink(FileSink&& other) noexcept;
  FileSink& operator=(FileSink&&) = delete;
  ~FileSink();

  // Checks, before asking, that every name can be created without following a link (bad_offer)
  // and that no offered folder would land on a file (target_exists); returns the files whose
  // names exist here already (indices into offer.entries). Writes nothing.
  proto::Result<std::vector<std::size_t>> conflicts(const proto::Offer& offer) const;
  // conflicts(), failing with target_exists when a file exists and overwriting is off.
  proto::Result<void> check(const proto::Offer& offer) const;
  // Replace existing files (the person chose to overwrite). Fails when one of them is a folder.
  proto::Result<void> allow_overwrite(const proto::Offer& offer,
                                      const std::vector<std::size_t>& which);
  // Gives each listed file a free name in its folder ("name (1).ext", "name (2).ext", ...); a
  // file inside an offered top-level folder that exists here gives that whole folder a free name
  // instead ("album (1)/"). Changes only this side's copy of the offer.
  proto::Result<void> rename(proto::Offer& offer, const std::vector<std::size_t>& which) const;
  // Bytes already held in "<name>.ferry-part" from an earlier attempt, per entry (the part
  // files this transfer adopts).
  std::vector<std::uint64_t> resume_offsets(const proto::Offer& offer) const;
  // Before accepting: the folder's file system has room for what is still to come (disk_full),
  // and no part file that this transfer does not adopt is in the way (target_exists: it would
  // otherwise be truncated). Writes nothing.
  proto::Result<void> check_room(const proto::Offer& offer,
                                 const std::vector<std::uint64_t>& offsets) const;
  // The folder's file system has `needed` bytes free (disk_full, with both sizes). Writes nothing.
  proto::Result<void> check_space(std::uint64_t needed) const;

  // Creates the offer's folders.
  proto::Result<void> make_folders(const proto::Offer& offer);
  // Opens entry `index`'s part file; keeps its first `start` bytes, feeding them to the tracker.
  // Holds an exclusive lock on it (flock) until commit, abandon or discard; a part file another
  // transfer holds is target_exists, and resume_offsets never adopts it.
  proto::Result<void> begin(const proto::Offer& offer, std::uint32_t index, std::uint64_t start,
                            proto::ReceiveTracker& tracker);
  proto::Result<void> write(proto::ByteView data);
  // Sets the mode and renames the verified part file into place.
  proto::Result<void> commit();
  // Once every file arrived: the offered folders get their modification times (deepest first,
  // after their files were written into them). A time that cannot be set is no failure.
  void date_folders(const proto::Offer& offer) const;
  // Closes the current part file, keeping it for a later resume.
  void abandon();
  // The current part file failed verification: deletes it when this transfer wrote all of it,
  // else cuts it back to the prefix it adopted (that was there before; it is not ours to delete).
  void discard();

  const std::filesystem::path& folder() const { return folder_; }
  // The current part file's bytes from before this transfer, and its name as shown.
  std::uint64_t adopted() const { return adopted_; }
  std::string part_name() const { return display_ + std::string(kPartSuffix); }

 private:
  FileSink(int dir_fd, std::filesystem::path folder, bool overwrite)
      : dir_fd_(dir_fd), folder_(std::move(folder)), overwrite_(overwrite) {}

  // Feeds the current file's first `start` bytes to the tracker (entry `index`).
  proto::Result<void> hash_prefix(std::uint64_t start, std::uint32_t index,
                                  proto::ReceiveTracker& tracker) const;
  // Opens the folder that will hold `path`'s last component; creates missing ones when asked.
  proto::Result<int> open_parent(const std::vector<std::string>& parts, bool create) const;

  int dir_fd_ = -1;
  std::filesystem::path folder_;
  bool overwrite_ = false;
  bool stdout_ = false;
  int parent_fd_ = -1;
  int file_fd_ = -1;
  std::string name_;  // last component of the current file
  std::string display_;
  bool executable_ = false;
  std::optional<std::int64_t> mtime_;  // the file's, given it at commit
  std::uint64_t written_ = 0;
  std::uint64_t adopted_ = 0;  // the current part file's bytes from before this transfer
  // The files this sink put in place (their offered paths, as decided here): when the same
  // transfer continues after a break, they are whole already (resume_offsets says so) and are
  // only checked against the sender's hash (begin reads them, commit keeps them).
  std::set<std::string> committed_;
  std::string path_;       // the current entry's path
  bool checking_ = false;  // the current file is one of committed_, read back, not written
};

}  // namespace ferry::session
