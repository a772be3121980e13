// atomic_file_test.cpp: atomic writes (round trip, no leftovers, crash before rename) and reads.
#include "io/atomic_file.h"

#include <fstream>

#include <sys/stat.h>
#include <unistd.h>

#include "io_test_util.h"

using namespace moescope;
using moescope::testing::expect_error;
using moescope::testing::TempDir;

TEST(AtomicFile, RoundTripIncludingBinaryAndEmpty) {
  TempDir dir;
  std::string data;
  for (int i = 0; i < 300000; ++i) data += char(i * 131 % 256);
  write_file_atomic(dir.file("a.bin"), data);
  EXPECT_EQ(read_file(dir.file("a.bin")), data);
  write_file_atomic(dir.file("empty"), "");
  EXPECT_EQ(read_file(dir.file("empty")), "");
}

TEST(AtomicFile, CreatesParentDirectories) {
  TempDir dir;
  write_file_atomic(dir.file("x/y/z.txt"), "hello");
  EXPECT_EQ(read_file(dir.file("x/y/z.txt")), "hello");
}

TEST(AtomicFile, OverwriteLeavesNoTempFiles) {
  TempDir dir;
  write_file_atomic(dir.file("f.txt"), "first version, longer than the second");
  write_file_atomic(dir.file("f.txt"), "second");
  EXPECT_EQ(read_file(dir.file("f.txt")), "second");
  EXPECT_EQ(dir.list(), std::vector<std::string>{"f.txt"});
}

TEST(AtomicFile, CrashBeforeRenameKeepsPreviousFile) {
  TempDir dir;
  const std::string path = dir.file("state.json");
  write_file_atomic(path, "{\"step\": 1}");
  // A writer that died after writing its temp file but before the rename.
  const std::string temp = path + ".tmp." + std::to_string(::getpid());
  std::ofstream(temp) << "{\"step\": 2, \"trunc";
  EXPECT_EQ(read_file(path), "{\"step\": 1}");
  // The next write replaces the stale temp file and leaves only the real file.
  write_file_atomic(path, "{\"step\": 3}");
  EXPECT_EQ(read_file(path), "{\"step\": 3}");
  EXPECT_EQ(dir.list(), std::vector<std::string>{"state.json"});
}

TEST(AtomicFile, AbandonedStreamingWriteRemovesTempAndKeepsOld) {
  TempDir dir;
  const std::string path = dir.file("big.bin");
  write_file_atomic(path, "old");
  {
    AtomicFile f(path);
    f.write("new data that is never committed");
    EXPECT_TRUE(std::filesystem::exists(f.temp_path()));
  }
  EXPECT_EQ(read_file(path), "old");
  EXPECT_EQ(dir.list(), std::vector<std::string>{"big.bin"});
  AtomicFile g(path);
  g.write("part1,");
  g.write("part2");
  g.commit();
  EXPECT_EQ(read_file(path), "part1,part2");
}

TEST(AtomicFile, ReadMissingFileNamesPath) {
  TempDir dir;
  expect_error<std::runtime_error>([&] { read_file(dir.file("nope.txt")); }, {"nope.txt", "No such file"});
  expect_error<std::runtime_error>([&] { read_file(dir.path()); }, {dir.path()});
}

TEST(AtomicFile, UnwritableDirectoryNamesPath) {
  TempDir dir;
  write_file_atomic(dir.file("plain"), "x");
  // A regular file where a parent directory should be.
  expect_error<std::runtime_error>([&] { write_file_atomic(dir.file("plain/child.txt"), "y"); }, {"plain"});
}

// Only regular files are read: a FIFO without a writer must not block, /dev/zero must not
// read until memory runs out, a directory must not read as empty.
TEST(AtomicFile, ReadRefusesWhatIsNotARegularFile) {
  TempDir dir;
  const std::string fifo = dir.file("pipe");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  expect_error<std::runtime_error>([&] { read_file(fifo); }, {fifo, "FIFO", "not a regular file"});
  expect_error<std::runtime_error>([&] { require_regular_file(fifo, "data"); }, {fifo, "(data)", "FIFO"});
  expect_error<std::runtime_error>([&] { read_file(dir.path()); }, {"a directory", "not a regular file"});
  expect_error<std::runtime_error>([&] { read_file("/dev/zero"); }, {"/dev/zero", "a character device"});
  expect_error<std::runtime_error>([&] { read_file(dir.file("missing")); }, {"missing", "cannot open"});
  write_file_atomic(dir.file("ok"), "x");
  EXPECT_NO_THROW(require_regular_file(dir.file("ok"), "data"));
}

TEST(AtomicFile, ReadIsBounded) {
  TempDir dir;
  write_file_atomic(dir.file("f"), std::string(1000, 'a'));
  EXPECT_EQ(read_file(dir.file("f"), 1000).size(), 1000u);
  expect_error<std::runtime_error>([&] { read_file(dir.file("f"), 999); }, {"1000 bytes", "999-byte limit"});
}
