// FileSink on a real file system: names that would escape the folder, planted symlinks, existing
// files, resume offsets.
#include "session/file_sink.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>
#include "temp_dir.hpp"

#include <fstream>

namespace ferry::session {
namespace {

namespace fs = std::filesystem;
using proto::Offer;
using proto::OfferEntry;

using ferry::testing::TempDir;

Offer one_file(const std::string& path, std::uint64_t size) {
  Offer o;
  o.entries.push_back({path, OfferEntry::Kind::file, size, false});
  return o;
}

proto::FileHash hash_of(std::string_view s) {
  proto::FileHasher h;
  h.update(proto::as_bytes(s));
  return h.finish();
}

TEST(FileSink, WritesVerifiesAndRenames) {
  TempDir d;
  auto sink = FileSink::open(d.path, false);
  ASSERT_TRUE(sink);
  Offer o;
  o.entries = {{"dir", OfferEntry::Kind::directory, 0, false},
               {"dir/run.sh", OfferEntry::Kind::file, 5, true}};
  ASSERT_TRUE(sink->check(o));
  ASSERT_TRUE(sink->make_folders(o));
  proto::ReceiveTracker t(o, {0, 0}, proto::HashScope::whole_file);
  ASSERT_TRUE(sink->begin(o, 1, 0, t));
  ASSERT_TRUE(sink->write(proto::as_bytes("hello")));
  EXPECT_TRUE(fs::exists(d.path / "dir/run.sh.ferry-part"));
  EXPECT_FALSE(fs::exists(d.path / "dir/run.sh"));
  ASSERT_TRUE(sink->commit());
  EXPECT_TRUE(fs::exists(d.path / "dir/run.sh"));
  EXPECT_FALSE(fs::exists(d.path / "dir/run.sh.ferry-part"));
  EXPECT_NE(fs::status(d.path / "dir/run.sh").permissions() & fs::perms::owner_exec,
            fs::perms::none);
}

TEST(FileSink, FilesAndFoldersGetTheSendersModificationTimes) {
  TempDir d;
  auto sink = FileSink::open(d.path, false);
  ASSERT_TRUE(sink);
  Offer o;
  o.entries = {{"album", OfferEntry::Kind::directory, 0, false},
               {"album/inner", OfferEntry::Kind::directory, 0, false},
               {"album/inner/a.txt", OfferEntry::Kind::file, 5, false},
               {"album/b.txt", OfferEntry::Kind::file, 5, false}};
  o.entries[0].mtime = 1500000000;
  o.entries[1].mtime = 1500000100;
  o.entries[2].mtime = 1600000000;  // b.txt's is unknown: it keeps the time it was written
  ASSERT_TRUE(sink->make_folders(o));
  proto::ReceiveTracker t(o, {0, 0, 0, 0}, proto::HashScope::whole_file);
  for (std::uint32_t i : {2U, 3U}) {
    ASSERT_TRUE(sink->begin(o, i, 0, t));
    ASSERT_TRUE(sink->write(proto::as_bytes("hello")));
    ASSERT_TRUE(sink->commit());
  }
  sink->date_folders(o);
  const auto mtime = [&](const char* p) {
    struct stat st {};
    EXPECT_EQ(::stat((d.path / p).c_str(), &st), 0) << p;
    return static_cast<std::int64_t>(st.st_mtim.tv_sec);
  };
  EXPECT_EQ(mtime("album/inner/a.txt"), 1600000000);
  // Dated after their contents were written, deepest first.
  EXPECT_EQ(mtime("album/inner"), 1500000100);
  EXPECT_EQ(mtime("album"), 1500000000);
  EXPECT_GT(mtime("album/b.txt"), 1600000000);
}

TEST(FileSink, RefusesToWriteThroughPlantedSymlinks) {
  TempDir d, outside;
  fs::create_directory_symlink(outside.path, d.path / "link");
  auto sink = FileSink::open(d.path, true);
  ASSERT_TRUE(sink);
  const Offer o = one_file("link/evil", 1);
  auto r = sink->check(o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, proto::Errc::bad_offer);
  proto::ReceiveTracker t(o, {}, proto::HashScope::whole_file);
  EXPECT_FALSE(sink->begin(o, 0, 0, t));
  EXPECT_TRUE(fs::is_empty(outside.path));
}

TEST(FileSink, PlantedPartSymlinkIsNotFollowed) {
  TempDir d, outside;
  fs::create_symlink(outside.path / "target", d.path / "f.ferry-part");
  auto sink = FileSink::open(d.path, false);
  ASSERT_TRUE(sink);
  const Offer o = one_file("f", 1);
  proto::ReceiveTracker t(o, {}, proto::HashScope::whole_file);
  EXPECT_FALSE(sink->begin(o, 0, 0, t));
  EXPECT_FALSE(fs::exists(outside.path / "target"));
}

TEST(FileSink, ExistingFileIsNotOverwrittenUnlessAsked) {
  TempDir d;
  std::ofstream(d.path / "f") << "mine";
  const Offer o = one_file("f", 1);
  auto keep = FileSink::open(d.path, false);
  auto r = keep->check(o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, proto::Errc::target_exists);
  auto replace = FileSink::open(d.path, true);
  EXPECT_TRUE(replace->check(o));
}

TEST(FileSink, ResumeOffsetsComeFromPartFiles) {
  TempDir d;
  std::ofstream(d.path / "f.ferry-part") << "hel";
  std::ofstream(d.path / "g.ferry-part") << "too long for g";
  Offer o;
  o.entries = {{"f", OfferEntry::Kind::file, 5, false}, {"g", OfferEntry::Kind::file, 2, false}};
  auto sink = FileSink::open(d.path, false);
  EXPECT_EQ(sink->resume_offsets(o), (std::vector<std::uint64_t>{3, 0}));
  proto::ReceiveTracker t(o, {3, 0}, proto::HashScope::whole_file);
  ASSERT_TRUE(sink->begin(o, 0, 3, t));
  ASSERT_TRUE(t.on_chunk({0, 3, proto::as_bytes("lo")}));
  ASSERT_TRUE(sink->write(proto::as_bytes("lo")));
  ASSERT_TRUE(t.on_file_end({0, hash_of("hello")}));
  ASSERT_TRUE(sink->commit());
  std::ifstream in(d.path / "f");
  std::string content;
  in >> content;
  EXPECT_EQ(content, "hello");
}

TEST(FileSink, UnwritableFolderIsAClearError) {
  TempDir d;
  std::ofstream(d.path / "a-file") << "x";
  auto r = FileSink::open(d.path / "a-file" / "folder", false);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, proto::Errc::io_error);
}

TEST(FileSink, MissingFolderIsCreated) {
  TempDir d;
  auto r = FileSink::open(d.path / "new" / "folder", false);
  ASSERT_TRUE(r);
  EXPECT_TRUE(fs::is_directory(d.path / "new" / "folder"));
}

TEST(FileSink, ConflictsAreListedAndRenamedToFreeNames) {
  TempDir d;
  std::ofstream(d.path / "a.txt") << "old";
  std::ofstream(d.path / "a (1).txt") << "older";
  std::ofstream(d.path / "README") << "x";
  fs::create_directory(d.path / "sub");
  auto sink = FileSink::open(d.path, false);
  ASSERT_TRUE(sink);
  Offer o;
  o.entries = {{"a.txt", OfferEntry::Kind::file, 1, false},
               {"a (2).txt", OfferEntry::Kind::file, 1, false},
               {"README", OfferEntry::Kind::file, 1, false},
               {"sub", OfferEntry::Kind::directory, 0, false},
               {"new.bin", OfferEntry::Kind::file, 1, false}};
  auto found = sink->conflicts(o);
  ASSERT_TRUE(found);
  EXPECT_EQ(*found, (std::vector<std::size_t>{0, 2}));
  auto refused = sink->check(o);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, proto::Errc::target_exists);
  ASSERT_TRUE(sink->rename(o, *found));
  EXPECT_EQ(o.entries[0].path, "a (3).txt");  // (1) exists here, (2) is offered
  EXPECT_EQ(o.entries[2].path, "README (1)");
  EXPECT_TRUE(sink->check(o));
}

TEST(FileSink, AFolderThatExistsIsKeptApartAsAWholeWhenRenaming) {
  TempDir d;
  fs::create_directories(d.path / "album" / "inner");
  std::ofstream(d.path / "album" / "a.jpg") << "old";
  std::ofstream(d.path / "album" / "inner" / "b.jpg") << "old";
  fs::create_directory(d.path / "album (1)");  // taken already
  std::ofstream(d.path / "c.txt") << "old";
  auto sink = FileSink::open(d.path, false);
  ASSERT_TRUE(sink);
  Offer o;
  o.entries = {{"album", OfferEntry::Kind::directory, 0, false},
               {"album/a.jpg", OfferEntry::Kind::file, 1, false},
               {"album/inner", OfferEntry::Kind::directory, 0, false},
               {"album/inner/b.jpg", OfferEntry::Kind::file, 1, false},
               {"album/new.jpg", OfferEntry::Kind::file, 1, false},
               {"c.txt", OfferEntry::Kind::file, 1, false}};
  auto found = sink->conflicts(o);
  ASSERT_TRUE(found);
  EXPECT_EQ(*found, (std::vector<std::size_t>{1, 3, 5}));
  ASSERT_TRUE(sink->rename(o, *found));
  EXPECT_EQ(o.entries[0].path, "album (2)");
  EXPECT_EQ(o.entries[1].path, "album (2)/a.jpg");
  EXPECT_EQ(o.entries[2].path, "album (2)/inner");
  EXPECT_EQ(o.entries[3].path, "album (2)/inner/b.jpg");
  EXPECT_EQ(o.entries[4].path, "album (2)/new.jpg");
  EXPECT_EQ(o.entries[5].path, "c (1).txt");  // a file on its own is renamed itself
  auto again = sink->conflicts(o);
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->empty());
}

TEST(FileSink, OverwriteIsRefusedForAFolder) {
  TempDir d;
  fs::create_directory(d.path / "x");
  std::ofstream(d.path / "y") << "old";
  auto sink = FileSink::open(d.path, false);
  ASSERT_TRUE(sink);
  Offer o;
  o.entries = {{"x", OfferEntry::Kind::file, 1, false}, {"y", OfferEntry::Kind::file, 1, false}};
  auto found = sink->conflicts(o);
  ASSERT_TRUE(found);
  EXPECT_FALSE(sink->allow_overwrite(o, *found));
  EXPECT_TRUE(sink->allow_overwrite(o, {1}));
  Offer dir_on_file;
  dir_on_file.entries = {{"y", OfferEntry::Kind::directory, 0, false}};
  auto r = sink->conflicts(dir_on_file);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, proto::Errc::target_exists);
}

TEST(FileSink, APartFileThisTransferDoesNotAdoptIsLeftAlone) {
  TempDir d;
  { std::ofstream(d.path / "notes.ferry-part") << "someone else's unfinished bytes"; }
  auto sink = FileSink::open(d.path, false);
  ASSERT_TRUE(sink);
  const Offer o = one_file("notes", 4);  // smaller than the part file: not adopted
  const auto offsets = sink->resume_offsets(o);
  EXPECT_EQ(offsets[0], 0u);
  auto r = sink->check_room(o, offsets);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, proto::Errc::target_exists);
  // Even if asked to begin anyway, the part file is not truncated.
  proto::ReceiveTracker t(o, offsets, proto::HashScope::whole_file);
  EXPECT_FALSE(sink->begin(o, 0, 0, t));
  EXPECT_EQ(fs::file_size(d.path / "notes.ferry-part"), 31u);
}

TEST(FileSink, APartFileAnotherTransferIsWritingIsNeitherAdoptedNorDeleted) {
  // Two receives into one folder: the second once adopted the first's part file (no larger than
  // its offer), found its hash wrong and deleted it under the first transfer's feet.
  TempDir d;
  auto first = FileSink::open(d.path, false);
  auto second = FileSink::open(d.path, false);
  ASSERT_TRUE(first && second);
  const Offer mine = one_file("f.bin", 10);
  proto::ReceiveTracker t1(mine, {0}, proto::HashScope::whole_file);
  ASSERT_TRUE(first->begin(mine, 0, 0, t1));
  ASSERT_TRUE(first->write(proto::as_bytes("01234")));

  const Offer theirs = one_file("f.bin", 20);
  const auto offsets = second->resume_offsets(theirs);
  EXPECT_EQ(offsets[0], 0u);  // not adopted
  auto room = second->check_room(theirs, offsets);
  ASSERT_FALSE(room);
  EXPECT_EQ(room.error().code, proto::Errc::target_exists);
  EXPECT_NE(room.error().detail.find("another transfer"), std::string::npos);
  // Nor may it take the file over by beginning anyway, adopted or not.
  proto::ReceiveTracker t2(theirs, {5}, proto::HashScope::whole_file);
  auto begun = second->begin(theirs, 0, 5, t2);
  ASSERT_FALSE(begun);
  EXPECT_EQ(begun.error().code, proto::Errc::target_exists);
  second->discard();  // nothing of its own to discard

  ASSERT_TRUE(first->write(proto::as_bytes("56789")));
  ASSERT_TRUE(t1.on_chunk({0, 0, proto::as_bytes("0123456789")}));
  ASSERT_TRUE(t1.on_file_end({0, hash_of("0123456789")}));
  ASSERT_TRUE(first->commit());
  EXPECT_EQ(fs::file_size(d.path / "f.bin"), 10u);
  // Committed: the name is free for the next transfer.
  EXPECT_EQ(second->resume_offsets(theirs)[0], 0u);
}

TEST(FileSink, AFailedHashCutsAnAdoptedPartFileBackInsteadOfDeletingIt) {
  TempDir d;
  { std::ofstream(d.path / "f.ferry-part") << "hel"; }  // an earlier attempt's bytes
  auto sink = FileSink::open(d.path, false);
  const Offer o = one_file("f", 5);
  ASSERT_EQ(sink->resume_offsets(o)[0], 3u);
  proto::ReceiveTracker t(o, {3}, proto::HashScope::whole_file);
  ASSERT_TRUE(sink->begin(o, 0, 3, t));
  ASSERT_TRUE(sink->write(proto::as_bytes("XX")));
  sink->discard();
  ASSERT_TRUE(fs::exists(d.path / "f.ferry-part"));
  EXPECT_EQ(fs::file_size(d.path / "f.ferry-part"), 3u);
  // A part file the transfer started itself goes.
  { std::ofstream(d.path / "g.ferry-part"); }
  const Offer g = one_file("g", 5);
  proto::ReceiveTracker tg(g, {0}, proto::HashScope::whole_file);
  ASSERT_TRUE(sink->begin(g, 0, 0, tg));
  ASSERT_TRUE(sink->write(proto::as_bytes("abcde")));
  sink->discard();
  EXPECT_FALSE(fs::exists(d.path / "g.ferry-part"));
}

TEST(FileSink, AnEmptyPartFileIsNoObstacle) {
  TempDir d;
  { std::ofstream(d.path / "notes.ferry-part"); }
  auto sink = FileSink::open(d.path, false);
  ASSERT_TRUE(sink);
  const Offer o = one_file("notes", 4);
  const auto offsets = sink->resume_offsets(o);
  ASSERT_TRUE(sink->check_room(o, offsets));
  proto::ReceiveTracker t(o, offsets, proto::HashScope::whole_file);
  ASSERT_TRUE(sink->begin(o, 0, 0, t));
  ASSERT_TRUE(sink->write(proto::as_bytes("data")));
}

TEST(FileSink, AnOfferLargerThanTheFreeSpaceIsRefusedBeforeAnythingIsWritten) {
  TempDir d;
  auto sink = FileSink::open(d.path, false);
  ASSERT_TRUE(sink);
  const Offer o = one_file("huge", std::uint64_t{1} << 60);
  auto r = sink->check_room(o, sink->resume_offsets(o));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, proto::Errc::disk_full);
  EXPECT_NE(r.error().detail.find("free"), std::string::npos);
  EXPECT_TRUE(fs::is_empty(d.path));
}

}  // namespace
}  // namespace ferry::session
