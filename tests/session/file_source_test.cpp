#include "session/file_source.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>
#include "temp_dir.hpp"

#include <fstream>

namespace ferry::session {
namespace {

namespace fs = std::filesystem;

using ferry::testing::TempDir;

TEST(FileSource, WalksFoldersSkippingLinks) {
  TempDir d;
  fs::create_directories(d.path / "photos/sub");
  std::ofstream(d.path / "photos/a.jpg") << "aaaa";
  std::ofstream(d.path / "photos/sub/b.txt") << "bb";
  fs::create_symlink("/etc/passwd", d.path / "photos/link");
  auto s = FileSource::from_paths({d.path / "photos"});
  ASSERT_TRUE(s) << s.error().detail;
  std::vector<std::string> paths;
  for (const auto& e : s->offer().entries) paths.push_back(e.path);
  EXPECT_EQ(paths,
            (std::vector<std::string>{"photos", "photos/a.jpg", "photos/sub", "photos/sub/b.txt"}));
  EXPECT_EQ(s->offer().total_bytes(), 6u);
  EXPECT_EQ(s->skipped(), std::vector<std::string>{"photos/link"});
}

TEST(FileSource, RejectsMissingAndDuplicateNames) {
  TempDir d;
  fs::create_directories(d.path / "x");
  fs::create_directories(d.path / "y");
  std::ofstream(d.path / "x/f") << "1";
  std::ofstream(d.path / "y/f") << "2";
  EXPECT_FALSE(FileSource::from_paths({d.path / "missing"}));
  EXPECT_FALSE(FileSource::from_paths({d.path / "x/f", d.path / "y/f"}));
}

TEST(FileSource, APipeOnStdinIsStreamedAFileIsSized) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  auto piped = FileSource::from_stdin(fds[0], "data.bin");
  ASSERT_TRUE(piped);
  EXPECT_TRUE(piped->offer().entries.at(0).streamed);
  EXPECT_EQ(piped->stream_fd(), fds[0]);
  EXPECT_EQ(piped->offer().total_bytes(), 0u);
  ::close(fds[0]);
  ::close(fds[1]);

  TempDir d;
  std::ofstream(d.path / "f") << "hello";
  const int fd = ::open((d.path / "f").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  auto file = FileSource::from_stdin(fd, "data.bin");
  ASSERT_TRUE(file);
  EXPECT_FALSE(file->offer().entries.at(0).streamed);
  EXPECT_EQ(file->offer().entries.at(0).size, 5u);
  ::close(fd);
  EXPECT_FALSE(FileSource::from_stdin(0, "../x"));
}

}  // namespace
}  // namespace ferry::session
