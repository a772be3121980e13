// test_main.cpp: GoogleTest entry point shared by the test binaries. The probe cache
// (core/probe_cache.h, where train.dtype = auto keeps its bf16 timing) goes to a directory of
// this process under the system temporary directory, never the user's home: MOESCOPE_CACHE is
// set for the tests and the `moescope` processes they start, and the directory removed at exit.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "io/remove_tree.h"
#include "ops/runtime.h"

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  const fs::path cache = fs::temp_directory_path() / ("moescope_test_cache_" + std::to_string(::getpid()));
  setenv("MOESCOPE_CACHE", cache.c_str(), 1);
  moescope::init_process(argc, argv);
  ::testing::InitGoogleTest(&argc, argv);
  const int rc = RUN_ALL_TESTS();
  moescope::remove_tree_nothrow(cache.string());  // not fs::remove_all: io/remove_tree.h says why
  return rc;
}
