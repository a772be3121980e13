// safetensors.cpp: safetensors encode/decode with validation and CRC-32C checks (see safetensors.h).
#include "io/safetensors.h"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "io/atomic_file.h"
#include "io/crc32c.h"
#include "io/json_guard.h"

namespace moescope {
namespace {

using nlohmann::json;

const char* const kDataCrcKey = "moescope.crc32c";
const char* const kHeaderCrcKey = "moescope.header_crc32c";

struct Entry {
  std::string name, dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;
};

std::string hex32(uint32_t v) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", v);
  return buf;
}

bool parse_hex32(const std::string& s, uint32_t* out) {
  if (s.size() != 8) return false;
  uint32_t v = 0;
  for (char c : s) {
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return false;
    v = v << 4 | uint32_t(d);
  }
  *out = v;
  return true;
}

// numel of a shape, or -1 on a negative dim / overflow.
int64_t checked_numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return -1;
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d) return -1;
    n *= d;
  }
  return n;
}

// The canonical tensor table + metadata covered by "moescope.header_crc32c".
uint32_t header_crc(const std::vector<Entry>& entries, const std::map<std::string, std::string>& meta) {
  std::string s;
  for (const Entry& e : entries) {
    s += e.name + '\0' + e.dtype + '\0';
    for (size_t i = 0; i < e.shape.size(); ++i) s += (i ? "," : "") + std::to_string(e.shape[i]);
    s += '\0' + std::to_string(e.begin) + ',' + std::to_string(e.end) + '\n';
  }
  for (const auto& [k, v] : meta)
    if (k != kDataCrcKey && k != kHeaderCrcKey) s += k + '\0' + v + '\n';
  return crc32c(s.data(), s.size());
}

uint64_t read_le64(const std::string& b) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | uint8_t(b[i]);
  return v;
}

[[noreturn]] void fail(const std::string& where, const std::string& what) {
  throw std::runtime_error(where + ": " + what);
}

// Reads a JSON integer >= 0, or fails naming `what`.
uint64_t json_uint(const json& v, const std::string& where, const std::string& what) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer() && v.get<int64_t>() >= 0) return uint64_t(v.get<int64_t>());
  fail(where, what + " must be a non-negative integer, got " + v.dump());
}

Entry parse_entry(const std::string& name, const json& v, const std::string& where) {
  const std::string t = "tensor '" + name + "'";
  if (!v.is_object()) fail(where, t + ": header entry is not a JSON object");
  for (const auto& item : v.items())
    if (item.key() != "dtype" && item.key() != "shape" && item.key() != "data_offsets")
      fail(where, t + ": unexpected header field '" + item.key() + "'");
  for (const char* k : {"dtype", "shape", "data_offsets"})
    if (!v.contains(k)) fail(where, t + ": header entry lacks '" + std::string(k) + "'");
  Entry e;
  e.name = name;
  if (!v["dtype"].is_string()) fail(where, t + ": dtype is not a string");
  e.dtype = v["dtype"].get<std::string>();
  if (safetensors_dtype_size(e.dtype) == 0) fail(where, t + ": unknown dtype '" + e.dtype + "'");
  if (!v["shape"].is_array()) fail(where, t + ": shape is not an array");
  for (const json& d : v["shape"]) {
    uint64_t dim = json_uint(d, where, t + ": shape dim");
    if (dim > uint64_t(std::numeric_limits<int64_t>::max())) fail(where, t + ": shape dim too large");
    e.shape.push_back(int64_t(dim));
  }
  const json& off = v["data_offsets"];
  if (!off.is_array() || off.size() != 2) fail(where, t + ": data_offsets must be [begin, end]");
  e.begin = json_uint(off[0], where, t + ": data_offsets begin");
  e.end = json_uint(off[1], where, t + ": data_offsets end");
  if (e.begin > e.end)
    fail(where, t + ": data_offsets begin " + std::to_string(e.begin) + " > end " + std::to_string(e.end));
  int64_t numel = checked_numel(e.shape);
  if (numel < 0 || uint64_t(numel) > std::numeric_limits<uint64_t>::max() / 8) fail(where, t + ": shape is too large");
  uint64_t want = uint64_t(numel) * uint64_t(safetensors_dtype_size(e.dtype));
  if (want != e.end - e.begin)
    fail(where, t + ": shape and dtype " + e.dtype + " need " + std::to_string(want) + " bytes but data_offsets span " +
                    std::to_string(e.end - e.begin));
  return e;
}

}  // namespace

int64_t safetensors_dtype_size(const std::string& dtype) {
  static const std::map<std::string, int64_t> sizes = {
      {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"F8_E4M3", 1}, {"F8_E5M2", 1}, {"I64", 8}, {"I32", 4},
      {"I16", 2}, {"I8", 1},  {"U64", 8}, {"U32", 4},  {"U16", 2},     {"U8", 1},      {"BOOL", 1}};
  auto it = sizes.find(dtype);
  return it == sizes.end() ? 0 : it->second;
}

bool SafetensorsFile::has(const std::string& name) const {
  for (const auto& t : tensors)
    if (t.name == name) return true;
  return false;
}

const TensorRecord& SafetensorsFile::at(const std::string& name) const {
  for (const auto& t : tensors)
    if (t.name == name) return t;
  std::string have;
  for (size_t i = 0; i < tensors.size() && i < 8; ++i) have += (i ? ", " : "") + tensors[i].name;
  if (tensors.size() > 8) have += ", ...";
  throw std::invalid_argument(where + ": no tensor named '" + name + "' (file has " + std::to_string(tensors.size()) +
                              " tensors: " + have + ")");
}

std::string encode_safetensors(const std::vector<TensorRecord>& tensors,
                               const std::map<std::string, std::string>& metadata) {
  std::vector<const TensorRecord*> order;
  for (const auto& t : tensors) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->name < b->name; });

  std::vector<Entry> entries;
  std::string data;
  for (size_t i = 0; i < order.size(); ++i) {
    const TensorRecord& t = *order[i];
    if (t.name.empty() || t.name == "__metadata__")
      throw std::invalid_argument("safetensors encode: invalid tensor name '" + t.name + "'");
    if (i > 0 && order[i - 1]->name == t.name)
      throw std::invalid_argument("safetensors encode: duplicate tensor name '" + t.name + "'");
    int64_t dsize = safetensors_dtype_size(t.dtype);
    if (dsize == 0)
      throw std::invalid_argument("safetensors encode: tensor '" + t.name + "' has unknown dtype '" + t.dtype + "'");
    int64_t numel = checked_numel(t.shape);
    if (numel < 0) throw std::invalid_argument("safetensors encode: tensor '" + t.name + "' has an invalid shape");
    if (uint64_t(numel) * uint64_t(dsize) != t.bytes.size())
      throw std::invalid_argument("safetensors encode: tensor '" + t.name + "' of dtype " + t.dtype + " needs " +
                                  std::to_string(numel * dsize) + " bytes, got " + std::to_string(t.bytes.size()));
    entries.push_back({t.name, t.dtype, t.shape, data.size(), data.size() + t.bytes.size()});
    data += t.bytes;
  }

  std::map<std::string, std::string> meta = metadata;
  meta[kDataCrcKey] = hex32(crc32c(data.data(), data.size()));
  meta[kHeaderCrcKey] = hex32(header_crc(entries, meta));

  json header = json::object();
  for (const Entry& e : entries)
    header[e.name] = {{"dtype", e.dtype}, {"shape", e.shape}, {"data_offsets", {e.begin, e.end}}};
  header["__metadata__"] = meta;
  std::string text;
  try {
    text = header.dump();
  } catch (const json::exception& ex) {
    throw std::invalid_argument(std::string("safetensors encode: tensor names and metadata must be "
                                            "valid UTF-8: ") +
                                ex.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');

  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = char(uint64_t(text.size()) >> (8 * i) & 0xFF);
  out.reserve(8 + text.size() + data.size());
  out += text;
  out += data;
  return out;
}

SafetensorsHeader parse_safetensors_header(std::string_view file_prefix, uint64_t file_size, const std::string& where) {
  if (file_size < 8 || file_prefix.size() < 8)
    fail(where, "truncated: file has " + std::to_string(file_size) + " bytes, fewer than the 8-byte header length");
  uint64_t n = read_le64(std::string(file_prefix.substr(0, 8)));
  if (n > file_size - 8)
    fail(where, "truncated: header length " + std::to_string(n) + " runs past the end of the file (" +
                    std::to_string(file_size) + " bytes)");
  if (file_prefix.size() < 8 + n) fail(where, "header not fully read");
  SafetensorsHeader out;
  out.data_start = 8 + n;
  const uint64_t data_size = file_size - out.data_start;
  const std::string_view text = file_prefix.substr(8, size_t(n));

  json header;
  const std::string deep = json_depth_error(text);
  if (!deep.empty()) fail(where, "header JSON is " + deep);
  try {
    header = json::parse(text.begin(), text.end());
  } catch (const json::exception& ex) {  // parse_error, or out_of_range for 1e999
    fail(where, std::string("header is not valid JSON: ") + ex.what());
  }
  if (!header.is_object()) fail(where, "header is not a JSON object");

  std::vector<Entry> entries;
  for (const auto& item : header.items()) {
    if (item.key() == "__metadata__") {
      if (!item.value().is_object()) fail(where, "__metadata__ is not a JSON object");
      for (const auto& m : item.value().items()) {
        if (!m.value().is_string()) fail(where, "__metadata__ value for '" + m.key() + "' is not a string");
        out.metadata[m.key()] = m.value().get<std::string>();
      }
    } else {
      entries.push_back(parse_entry(item.key(), item.value(), where));
    }
  }

  std::vector<const Entry*> by_offset;
  for (const Entry& e : entries) {
    if (e.end > data_size)
      fail(where, "truncated: tensor '" + e.name + "' ends at data byte " + std::to_string(e.end) +
                      " but the data section has only " + std::to_string(data_size) + " bytes");
    by_offset.push_back(&e);
  }
  std::sort(by_offset.begin(), by_offset.end(),
            [](auto* a, auto* b) { return a->begin != b->begin ? a->begin < b->begin : a->end < b->end; });
  uint64_t covered = 0;
  const Entry* prev = nullptr;
  for (const Entry* e : by_offset) {
    if (e->begin < covered)
      fail(where, "tensors '" + prev->name + "' and '" + e->name + "' have overlapping data_offsets");
    if (e->begin > covered)
      fail(where, "data_offsets do not cover the data section: gap of " + std::to_string(e->begin - covered) +
                      " bytes before tensor '" + e->name + "'");
    covered = e->end;
    prev = e;
  }
  if (covered != data_size)
    fail(where, "data_offsets do not cover the data section: tensors end at byte " + std::to_string(covered) +
                    " but it has " + std::to_string(data_size) + " bytes (trailing bytes)");

  // The writer always stores both; one without the other means a damaged key name.
  if (out.metadata.count(kDataCrcKey) != out.metadata.count(kHeaderCrcKey))
    fail(where, std::string("corrupted: metadata has only one of ") + kDataCrcKey + " and " + kHeaderCrcKey);
  auto it = out.metadata.find(kHeaderCrcKey);
  if (it != out.metadata.end()) {
    uint32_t stored = 0;
    if (!parse_hex32(it->second, &stored))
      fail(where, std::string("corrupted: metadata ") + kHeaderCrcKey + " is not 8 hex digits: '" + it->second + "'");
    const uint32_t actual = header_crc(entries, out.metadata);
    if (stored != actual)
      fail(where,
           "corrupted: checksum mismatch in the header (stored " + it->second + ", computed " + hex32(actual) + ")");
  }
  auto dc = out.metadata.find(kDataCrcKey);
  if (dc != out.metadata.end()) {
    uint32_t stored = 0;
    if (!parse_hex32(dc->second, &stored))
      fail(where, std::string("corrupted: metadata ") + kDataCrcKey + " is not 8 hex digits: '" + dc->second + "'");
    out.data_crc = stored;
    out.has_data_crc = true;
  }
  out.metadata.erase(kDataCrcKey);
  out.metadata.erase(kHeaderCrcKey);
  for (const Entry& e : entries) out.tensors.push_back({e.name, e.dtype, e.shape, e.begin, e.end});
  return out;
}

SafetensorsFile decode_safetensors(const std::string& bytes, const std::string& where) {
  SafetensorsHeader h = parse_safetensors_header(bytes, bytes.size(), where);
  if (h.has_data_crc) {
    const uint32_t actual = crc32c(bytes.data() + h.data_start, bytes.size() - h.data_start);
    if (h.data_crc != actual)
      fail(where, "corrupted: checksum mismatch in the data section (stored " + hex32(h.data_crc) + ", computed " +
                      hex32(actual) + ")");
  }
  SafetensorsFile out;
  out.where = where;
  out.metadata = std::move(h.metadata);
  for (const auto& e : h.tensors)
    out.tensors.push_back({e.name, e.dtype, e.shape, bytes.substr(h.data_start + e.begin, e.end - e.begin)});
  return out;
}

void save_safetensors(const std::string& path, const std::vector<TensorRecord>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::string image;
  try {
    image = encode_safetensors(tensors, metadata);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument("saving '" + path + "': " + e.what());
  }
  write_file_atomic(path, image);
}

void save_safetensors_streamed(const std::string& path, std::vector<StreamedTensor> tensors,
                               const std::map<std::string, std::string>& metadata) {
  std::sort(tensors.begin(), tensors.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  json header = json::object();
  uint64_t offset = 0;
  std::vector<uint64_t> sizes;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const StreamedTensor& t = tensors[i];
    const std::string where = "saving '" + path + "': tensor '" + t.name + "'";
    if (t.name.empty() || t.name == "__metadata__")
      throw std::invalid_argument("saving '" + path + "': invalid tensor name '" + t.name + "'");
    if (i > 0 && tensors[i - 1].name == t.name) throw std::invalid_argument(where + " appears twice");
    const int64_t dsize = safetensors_dtype_size(t.dtype);
    if (dsize == 0) throw std::invalid_argument(where + " has unknown dtype '" + t.dtype + "'");
    const int64_t numel = checked_numel(t.shape);
    if (numel < 0) throw std::invalid_argument(where + " has an invalid shape");
    sizes.push_back(uint64_t(numel) * uint64_t(dsize));
    header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + sizes.back()}}};
    offset += sizes.back();
  }
  std::map<std::string, std::string> meta = metadata;
  meta.erase(kDataCrcKey);
  meta.erase(kHeaderCrcKey);
  if (!meta.empty()) header["__metadata__"] = meta;
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::string len(8, '\0');
  for (int i = 0; i < 8; ++i) len[i] = char(uint64_t(text.size()) >> (8 * i) & 0xFF);
  AtomicFile f(path);
  f.write(len);
  f.write(text);
  for (size_t i = 0; i < tensors.size(); ++i) {
    uint64_t written = 0;
    tensors[i].write([&](std::string_view bytes) {
      written += bytes.size();
      if (written > sizes[i])
        throw std::runtime_error("saving '" + path + "': tensor '" + tensors[i].name + "' wrote more than its " +
                                 std::to_string(sizes[i]) + " bytes");
      f.write(bytes);
    });
    if (written != sizes[i])
      throw std::runtime_error("saving '" + path + "': tensor '" + tensors[i].name + "' wrote " +
                               std::to_string(written) + " of its " + std::to_string(sizes[i]) + " bytes");
  }
  f.commit();
}

SafetensorsFile load_safetensors(const std::string& path) { return decode_safetensors(read_file(path), path); }

}  // namespace moescope
