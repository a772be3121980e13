// safetensors_test.cpp: safetensors round trips, HF-compatible layout, and every refusal path.
#include "io/safetensors.h"

#include <cstring>

#include <nlohmann/json.hpp>

#include "io/atomic_file.h"
#include "io/crc32c.h"
#include "io_test_util.h"

using namespace moescope;
using moescope::testing::expect_error;
using moescope::testing::TempDir;
using nlohmann::json;

namespace {

template <class T>
std::string raw(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

std::vector<TensorRecord> sample_tensors() {
  return {
      {"w.f32", "F32", {2, 3}, raw(std::vector<float>{1, -2, 3.5f, 0, 1e-7f, 6})},
      {"a.f64", "F64", {3}, raw(std::vector<double>{1.0 / 3, -0.0, 1e300})},
      {"h.f16", "F16", {2}, raw(std::vector<uint16_t>{0x3C00, 0xC000})},
      {"h.bf16", "BF16", {1, 2}, raw(std::vector<uint16_t>{0x3F80, 0x4049})},
      {"i.i64", "I64", {2}, raw(std::vector<int64_t>{-5, int64_t(1) << 40})},
      {"i.i32", "I32", {1}, raw(std::vector<int32_t>{-7})},
      {"i.i16", "I16", {2}, raw(std::vector<int16_t>{-1, 300})},
      {"i.i8", "I8", {3}, raw(std::vector<int8_t>{-128, 0, 127})},
      {"u.u8", "U8", {2, 2}, raw(std::vector<uint8_t>{0, 1, 254, 255})},
      {"mask", "BOOL", {4}, raw(std::vector<uint8_t>{1, 0, 0, 1})},
      {"scalar", "F32", {}, raw(std::vector<float>{42.0f})},
      {"empty", "F32", {0, 5}, ""},
  };
}

// Splits an encoded file into (N, header text, data section).
struct Parts {
  uint64_t n;
  std::string header, data;
};
Parts split(const std::string& file) {
  uint64_t n = 0;
  std::memcpy(&n, file.data(), 8);
  return {n, file.substr(8, n), file.substr(8 + n)};
}

// Builds a file image from a header JSON and a data section (as another writer would).
std::string build(const json& header, const std::string& data) {
  std::string h = header.dump();
  uint64_t n = h.size();
  std::string out(8, '\0');
  std::memcpy(out.data(), &n, 8);
  return out + h + data;
}

}  // namespace

TEST(Safetensors, RoundTripAllDtypesScalarAndEmpty) {
  auto tensors = sample_tensors();
  std::map<std::string, std::string> meta = {{"format", "pt"}, {"moescope.step", "17"}};
  SafetensorsFile f = decode_safetensors(encode_safetensors(tensors, meta), "mem");
  EXPECT_EQ(f.metadata, meta);  // integrity keys are stripped
  ASSERT_EQ(f.tensors.size(), tensors.size());
  for (size_t i = 1; i < f.tensors.size(); ++i) EXPECT_LT(f.tensors[i - 1].name, f.tensors[i].name);
  for (const auto& t : tensors) {
    const TensorRecord& g = f.at(t.name);
    EXPECT_EQ(g.dtype, t.dtype) << t.name;
    EXPECT_EQ(g.shape, t.shape) << t.name;
    EXPECT_EQ(g.bytes, t.bytes) << t.name;
  }
  EXPECT_TRUE(f.at("scalar").shape.empty());
  EXPECT_TRUE(f.at("empty").bytes.empty());
}

TEST(Safetensors, HeaderIsHuggingFaceCompatible) {
  auto tensors = sample_tensors();
  const std::string file = encode_safetensors(tensors, {{"format", "pt"}});
  Parts p = split(file);
  EXPECT_EQ((8 + p.n) % 8, 0u);
  json h = json::parse(p.header);  // trailing spaces are legal JSON whitespace
  ASSERT_TRUE(h.is_object());
  ASSERT_TRUE(h["__metadata__"].is_object());
  for (const auto& m : h["__metadata__"].items()) EXPECT_TRUE(m.value().is_string()) << m.key();
  EXPECT_EQ(h["__metadata__"]["moescope.crc32c"].get<std::string>().size(), 8u);
  char hex[9];
  std::snprintf(hex, sizeof hex, "%08x", crc32c(p.data.data(), p.data.size()));
  EXPECT_EQ(h["__metadata__"]["moescope.crc32c"], hex);

  // Offsets: contiguous from 0 in name order, covering the data section, bytes where they say.
  std::map<std::string, const TensorRecord*> by_name;
  for (const auto& t : tensors) by_name[t.name] = &t;
  uint64_t expect_begin = 0;
  for (const auto& [name, t] : by_name) {
    const json& e = h.at(name);
    EXPECT_EQ(e["dtype"], t->dtype);
    EXPECT_EQ(e["shape"].get<std::vector<int64_t>>(), t->shape);
    uint64_t b = e["data_offsets"][0], en = e["data_offsets"][1];
    EXPECT_EQ(b, expect_begin) << name;
    EXPECT_EQ(p.data.substr(b, en - b), t->bytes) << name;
    expect_begin = en;
  }
  EXPECT_EQ(expect_begin, p.data.size());
}

TEST(Safetensors, AcceptsFilesFromOtherWritersWithoutChecksums) {
  json h = {{"b", {{"dtype", "U8"}, {"shape", {2}}, {"data_offsets", {3, 5}}}},
            {"a", {{"dtype", "I8"}, {"shape", {3}}, {"data_offsets", {0, 3}}}}};
  SafetensorsFile f = decode_safetensors(build(h, "abcde"), "hf.safetensors");
  EXPECT_EQ(f.at("a").bytes, "abc");
  EXPECT_EQ(f.at("b").bytes, "de");
  EXPECT_TRUE(f.metadata.empty());
}

TEST(Safetensors, TruncationIsRefused) {
  const std::string file = encode_safetensors(sample_tensors(), {});
  const uint64_t n = split(file).n;
  for (size_t len : {size_t(0), size_t(5), size_t(7), size_t(8), size_t(8 + n / 2), size_t(8 + n), size_t(8 + n + 3),
                     file.size() - 1}) {
    expect_error<std::runtime_error>([&] { decode_safetensors(file.substr(0, len), "cut.safetensors"); },
                                     {"cut.safetensors", "truncated"});
  }
}

TEST(Safetensors, FlippedDataByteIsRefused) {
  std::string file = encode_safetensors(sample_tensors(), {});
  const uint64_t n = split(file).n;
  for (size_t off : {size_t(0), size_t(17), file.size() - 8 - n - 1}) {
    std::string bad = file;
    bad[8 + n + off] ^= 0x10;
    expect_error<std::runtime_error>([&] { decode_safetensors(bad, "x.safetensors"); },
                                     {"x.safetensors", "corrupted: checksum mismatch"});
  }
}

TEST(Safetensors, EveryFlippedHeaderByteIsRefused) {
  const std::string file = encode_safetensors(sample_tensors(), {{"note", "abc"}});
  const uint64_t n = split(file).n;
  for (size_t i = 0; i < 8 + n; ++i) {
    for (int bit : {0x01, 0x80}) {
      std::string bad = file;
      bad[i] ^= char(bit);
      EXPECT_THROW(decode_safetensors(bad, "h"), std::runtime_error) << "byte " << i << " bit " << bit;
    }
  }
  // Renaming a tensor keeps the JSON valid; the header checksum catches it.
  std::string bad = file;
  size_t pos = bad.find("\"scalar\"");
  ASSERT_NE(pos, std::string::npos);
  bad[pos + 1] = 'S';
  expect_error<std::runtime_error>([&] { decode_safetensors(bad, "h.st"); },
                                   {"h.st", "checksum mismatch in the header"});
}

TEST(Safetensors, UnknownDtypeIsRefused) {
  json h = {{"t", {{"dtype", "Q4"}, {"shape", {2}}, {"data_offsets", {0, 2}}}}};
  expect_error<std::runtime_error>([&] { decode_safetensors(build(h, "ab"), "q.safetensors"); },
                                   {"q.safetensors", "unknown dtype 'Q4'", "'t'"});
  expect_error<std::invalid_argument>(
      [&] {
        encode_safetensors({{"t", "Q4", {2}, "ab"}}, {});
      },
      {"unknown dtype 'Q4'"});
}

TEST(Safetensors, StructuralErrorsAreNamed) {
  auto entry = [](const char* dt, std::vector<int64_t> shape, uint64_t b, uint64_t e) {
    return json{{"dtype", dt}, {"shape", shape}, {"data_offsets", {b, e}}};
  };
  expect_error<std::runtime_error>(
      [&] {
        decode_safetensors(build({{"t", entry("F32", {3}, 0, 8)}}, "12345678"), "s");
      },
      {"s: ", "'t'", "need 12 bytes", "span 8"});
  expect_error<std::runtime_error>(
      [&] {
        decode_safetensors(build({{"a", entry("U8", {4}, 0, 4)}, {"b", entry("U8", {4}, 2, 6)}}, "123456"), "s");
      },
      {"overlapping"});
  expect_error<std::runtime_error>(
      [&] {
        decode_safetensors(build({{"a", entry("U8", {2}, 0, 2)}, {"b", entry("U8", {2}, 4, 6)}}, "123456"), "s");
      },
      {"gap of 2 bytes", "'b'"});
  expect_error<std::runtime_error>(
      [&] {
        decode_safetensors(build({{"a", entry("U8", {2}, 0, 2)}}, "1234"), "s");
      },
      {"trailing bytes"});
  expect_error<std::runtime_error>(
      [&] {
        decode_safetensors(build({{"a", entry("U8", {2}, 2, 0)}}, "12"), "s");
      },
      {"begin 2 > end 0"});
  expect_error<std::runtime_error>(
      [&] {
        decode_safetensors(build({{"a", {{"dtype", "U8"}}}}, ""), "s");
      },
      {"lacks 'shape'"});
  expect_error<std::runtime_error>([&] { decode_safetensors(build(json::array(), ""), "s"); }, {"not a JSON object"});
  std::string not_json = build(json::object(), "");
  not_json.replace(8, 2, "{,");
  expect_error<std::runtime_error>([&] { decode_safetensors(not_json, "s.st"); }, {"s.st", "not valid JSON"});
}

TEST(Safetensors, EncodeRejectsBadRecords) {
  expect_error<std::invalid_argument>(
      [&] {
        encode_safetensors({{"t", "F32", {2}, "abc"}}, {});
      },
      {"'t'", "needs 8 bytes, got 3"});
  expect_error<std::invalid_argument>(
      [&] {
        encode_safetensors({{"t", "U8", {1}, "a"}, {"t", "U8", {1}, "b"}}, {});
      },
      {"duplicate", "'t'"});
  expect_error<std::invalid_argument>([&] { encode_safetensors({{"t", "U8", {-1}, ""}}, {}); }, {"invalid shape"});
}

TEST(Safetensors, SaveLoadAndMissingTensor) {
  TempDir dir;
  const std::string path = dir.file("ckpt/model.safetensors");
  save_safetensors(path, sample_tensors(), {{"k", "v"}});
  SafetensorsFile f = load_safetensors(path);
  EXPECT_EQ(f.metadata.at("k"), "v");
  EXPECT_EQ(f.at("w.f32").bytes, sample_tensors()[0].bytes);
  EXPECT_TRUE(f.has("mask"));
  EXPECT_FALSE(f.has("nope"));
  expect_error<std::invalid_argument>([&] { f.at("nope"); }, {path, "no tensor named 'nope'"});
  EXPECT_EQ(dir.list(), std::vector<std::string>{"ckpt"});
  expect_error<std::runtime_error>([&] { load_safetensors(dir.file("missing.safetensors")); }, {"missing.safetensors"});
}

TEST(Safetensors, HeaderNumberOverflowAndDeepNestingAreCleanErrors) {
  // Found by the fuzz target (tests/fuzz): 1e999 escaped as nlohmann's out_of_range.406.
  auto raw = [](const std::string& h) {
    uint64_t n = h.size();
    std::string out(8, '\0');
    std::memcpy(out.data(), &n, 8);
    return out + h;
  };
  expect_error<std::runtime_error>(
      [&] { decode_safetensors(raw(R"({"a":{"dtype":"U8","shape":[1e999],"data_offsets":[0,1]}})") + "x", "o.st"); },
      {"o.st", "header is not valid JSON", "1e999"});
  expect_error<std::runtime_error>([&] { decode_safetensors(raw("{\"a\":" + std::string(100000, '[') + "}"), "d.st"); },
                                   {"d.st", "nested deeper than 128 levels"});
}
