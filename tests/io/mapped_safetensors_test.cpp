// mapped_safetensors_test.cpp: the memory-mapped safetensors reader sees exactly what
// decode_safetensors sees, and refuses missing, truncated and corrupted files by name.
#include <unistd.h>

#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "io/atomic_file.h"
#include "io/mapped_safetensors.h"
#include "io/safetensors.h"

using namespace moescope;
namespace fs = std::filesystem;

namespace {

std::string scratch(const std::string& name) {
  return (fs::temp_directory_path() / ("moescope-mapped-" + name + "-" + std::to_string(::getpid()))).string();
}

std::vector<TensorRecord> records() {
  TensorRecord a{"a.weight", "F32", {2, 3}, std::string(24, '\x01')};
  TensorRecord b{"b.bias", "BF16", {5}, std::string(10, '\x7f')};
  TensorRecord c{"c.scalar", "I64", {}, std::string(8, '\x02')};
  return {a, b, c};
}

TEST(MappedSafetensors, SeesWhatTheDecoderSees) {
  const std::string path = scratch("ok");
  save_safetensors(path, records(), {{"format", "pt"}});
  const SafetensorsFile whole = load_safetensors(path);
  MappedSafetensors m(path);
  EXPECT_EQ(m.metadata(), whole.metadata);
  ASSERT_EQ(m.entries().size(), whole.tensors.size());
  for (const auto& t : whole.tensors) {
    ASSERT_TRUE(m.has(t.name));
    const auto v = m.at(t.name);
    EXPECT_EQ(v.entry->dtype, t.dtype);
    EXPECT_EQ(v.entry->shape, t.shape);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(v.data), v.size()), t.bytes);
  }
  EXPECT_FALSE(m.has("nope"));
  try {
    m.at("nope");
    ADD_FAILURE();
  } catch (const std::runtime_error& ex) {
    EXPECT_NE(std::string(ex.what()).find("no tensor 'nope'"), std::string::npos);
  }
  fs::remove(path);
}

TEST(MappedSafetensors, RefusesMissingTruncatedAndCorruptedFiles) {
  auto error = [](const std::string& p) -> std::string {
    try {
      MappedSafetensors m(p);
    } catch (const std::runtime_error& ex) {
      return ex.what();
    }
    return "";
  };
  const std::string path = scratch("bad");
  EXPECT_NE(error(path).find("cannot open"), std::string::npos);
  save_safetensors(path, records());
  const std::string bytes = read_file(path);
  write_file_atomic(path, bytes.substr(0, bytes.size() - 3));
  EXPECT_NE(error(path).find("truncated"), std::string::npos) << error(path);
  write_file_atomic(path, bytes.substr(0, 5));
  EXPECT_NE(error(path).find("truncated"), std::string::npos) << error(path);
  std::string bad = bytes;
  bad[bad.find("a.weight")] = 'x';  // the header checksum no longer matches
  write_file_atomic(path, bad);
  EXPECT_NE(error(path).find("checksum mismatch in the header"), std::string::npos) << error(path);
  fs::remove(path);
}

}  // namespace
