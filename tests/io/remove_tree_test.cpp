// remove_tree_test.cpp: nested trees, links not followed, missing paths, plain files, errors.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "io/remove_tree.h"
#include "io_test_util.h"

using namespace moescope;
namespace fs = std::filesystem;

TEST(RemoveTree, RemovesANestedTreeButNotWhatALinkPointsTo) {
  moescope::testing::TempDir tmp;
  const fs::path root = fs::path(tmp.path()) / "run", outside = fs::path(tmp.path()) / "outside";
  fs::create_directories(root / "checkpoints" / "latest" / "deep");
  fs::create_directories(outside);
  std::ofstream(root / "checkpoints" / "latest" / "model.safetensors") << "weights";
  std::ofstream(root / "checkpoints" / "latest" / "deep" / "x") << "x";
  std::ofstream(outside / "keep.txt") << "keep";
  fs::create_directory_symlink(outside, root / "link-to-outside");
  remove_tree(root.string());
  EXPECT_FALSE(fs::exists(fs::symlink_status(root)));
  EXPECT_TRUE(fs::exists(outside / "keep.txt"));  // the link was removed, not followed
}

TEST(RemoveTree, MissingPathIsNotAnErrorAndAPlainFileIsRemoved) {
  moescope::testing::TempDir tmp;
  EXPECT_NO_THROW(remove_tree(tmp.path() + "/does-not-exist"));
  const std::string f = tmp.path() + "/file.txt";
  std::ofstream(f) << "data";
  remove_tree(f);
  EXPECT_FALSE(fs::exists(f));
}

TEST(RemoveTree, APathThatCannotBeReachedIsNamed) {
  moescope::testing::TempDir tmp;
  const std::string f = tmp.path() + "/plain.txt";
  std::ofstream(f) << "x";
  const std::string bad = f + "/child";  // a file used as a directory: ENOTDIR, not "missing"
  try {
    remove_tree(bad);
    ADD_FAILURE() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
  }
  EXPECT_FALSE(remove_tree_nothrow(bad));
  EXPECT_TRUE(fs::exists(f));
}
