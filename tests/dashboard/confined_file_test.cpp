// confined_file_test.cpp: files are opened only when their real path lies inside the root:
// symlinks out of it are refused, links inside are followed, FIFOs are refused without
// blocking, missing files are told apart from refused ones.
#include "dashboard/confined_file.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "io/io_test_util.h"

namespace fs = std::filesystem;

namespace moescope::dashboard {

TEST(ConfinedFile, RefusesWhatResolvesOutsideTheRoot) {
  moescope::testing::TempDir root_dir, outside;
  const std::string root = fs::canonical(root_dir.path()).string();
  std::ofstream(outside.file("secret")) << "secret";
  std::ofstream(root_dir.file("inside")) << "inside";
  fs::create_symlink(outside.file("secret"), root_dir.file("out-link"));
  fs::create_symlink(root_dir.file("inside"), root_dir.file("in-link"));
  fs::create_directory_symlink(outside.path(), root_dir.file("out-dir"));
  ASSERT_EQ(::mkfifo(root_dir.file("fifo").c_str(), 0600), 0);

  EXPECT_TRUE(open_confined(root, root_dir.file("inside")).ok());
  EXPECT_TRUE(open_confined(root, root_dir.file("in-link")).ok());
  ConfinedFile f = open_confined(root, root_dir.file("out-link"));
  EXPECT_EQ(f.status, ConfinedFile::Status::kOutside);
  EXPECT_EQ(f.fd, -1);
  EXPECT_NE(f.error.find("resolves outside the log directory"), std::string::npos) << f.error;
  EXPECT_EQ(open_confined(root, root_dir.file("out-dir/secret")).status, ConfinedFile::Status::kOutside);
  EXPECT_EQ(open_confined(root, root_dir.file("fifo")).status, ConfinedFile::Status::kNotRegular);  // and did not block
  EXPECT_EQ(open_confined(root, root_dir.file("missing")).status, ConfinedFile::Status::kMissing);
  EXPECT_TRUE(open_confined("", root_dir.file("out-link")).ok());  // no root: anywhere

  std::string text;
  EXPECT_TRUE(read_confined(root, root_dir.file("in-link"), 100, text));
  EXPECT_EQ(text, "inside");
  EXPECT_FALSE(read_confined(root, root_dir.file("missing"), 100, text));
  EXPECT_THROW(read_confined(root, root_dir.file("out-link"), 100, text), std::runtime_error);
  EXPECT_THROW(read_confined(root, root_dir.file("inside"), 3, text), std::runtime_error);  // too large

  EXPECT_TRUE(path_inside("/a/b", "/a/b"));
  EXPECT_TRUE(path_inside("/a/b", "/a/b/c"));
  EXPECT_FALSE(path_inside("/a/b", "/a/bc"));
  EXPECT_FALSE(path_inside("/a/b", "/a"));
}

}  // namespace moescope::dashboard
