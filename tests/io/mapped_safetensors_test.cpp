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

namespace {

// A file written tensor by tensor (save_safetensors_streamed) reads back as the same tensors;
// a writer that produces too few or too many bytes is an error naming the tensor; release()
// drops a tensor's pages and the data stays readable.
TEST(MappedSafetensors, StreamedWriteAndRelease) {
  const std::string path = scratch("streamed");
  std::vector<StreamedTensor> ts;
  const std::string big(3 * 4096 * 4, '\x05');
  for (const auto& r : records())
    ts.push_back({r.name, r.dtype, r.shape, [r](const std::function<void(std::string_view)>& put) {
                    put(std::string_view(r.bytes).substr(0, 1));  // in pieces
                    put(std::string_view(r.bytes).substr(1));
                  }});
  ts.push_back({"big", "F32", {3, 4096}, [&](const std::function<void(std::string_view)>& put) { put(big); }});
  save_safetensors_streamed(path, ts, {{"format", "pt"}});
  const SafetensorsFile f = load_safetensors(path);
  ASSERT_EQ(f.tensors.size(), 4u);
  for (const auto& r : records()) EXPECT_EQ(f.at(r.name).bytes, r.bytes);
  EXPECT_EQ(f.metadata.at("format"), "pt");
  MappedSafetensors m(path);
  const auto v = m.at("big");
  m.release(v);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(v.data), v.size()), big);

  auto fail = [&](std::function<void(const std::function<void(std::string_view)>&)> w) {
    try {
      save_safetensors_streamed(scratch("bad"), {{"t", "F32", {2}, w}});
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(fail([](const auto& put) { put(std::string(4, 'x')); }).find("tensor 't' wrote 4 of its 8 bytes"),
            std::string::npos);
  EXPECT_NE(fail([](const auto& put) { put(std::string(12, 'x')); }).find("tensor 't' wrote more than its 8 bytes"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(scratch("bad")));  // nothing left under the final name
  fs::remove(path);
}

}  // namespace
