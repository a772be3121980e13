// test_main.cpp: GoogleTest entry point shared by the test binaries.
#include <gtest/gtest.h>

#include "ops/runtime.h"

int main(int argc, char** argv) {
  moescope::init_process(argc, argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
