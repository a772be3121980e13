// safetensors.h: reading and writing Hugging Face safetensors files, with integrity checks.
//
// Layout (all integers little-endian):
//   [u64 N] [N bytes JSON header, space-padded so 8 + N is a multiple of 8] [data section]
// Header: { "<tensor name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]},
//           ..., "__metadata__": {"<key>": "<string value>", ...} }   (metadata optional)
// data_offsets are byte offsets relative to the start of the data section; tensors are
// stored contiguously (row-major, little-endian) in name order, with no gaps, and together
// cover the data section exactly. This is what the HF `safetensors` reader requires.
//
// dtypes and sizes: F64 8, F32 4, F16 2, BF16 2, F8_E4M3 1, F8_E5M2 1, I64 8, I32 4, I16 2,
//                   I8 1, U64 8, U32 4, U16 2, U8 1, BOOL 1.
//
// Integrity (moescope extension, invisible to other readers): the writer adds two metadata
// entries, both 8 lowercase hex digits of a CRC-32C:
//   "moescope.crc32c"        of the data section;
//   "moescope.header_crc32c" of the canonical tensor table, i.e. for each tensor in name order
//                            name \0 dtype \0 dims joined by ',' \0 begin ',' end \n, followed
//                            by key \0 value \n for every other metadata entry in key order.
// The reader verifies whichever of these is present (files from other tools have neither) and
// does not return them in SafetensorsFile::metadata.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace moescope {

struct TensorRecord {
  std::string name;
  std::string dtype;           // one of the dtype names above
  std::vector<int64_t> shape;  // {} for a 0-d scalar
  std::string bytes;           // raw little-endian element data, numel * dtype size bytes
};

struct SafetensorsFile {
  std::string where;                            // file path (or caller's label) for messages
  std::map<std::string, std::string> metadata;  // without the moescope.* integrity keys
  std::vector<TensorRecord> tensors;            // in name order

  bool has(const std::string& name) const;
  // Throws std::invalid_argument naming the missing tensor and the file.
  const TensorRecord& at(const std::string& name) const;
};

// Bytes per element of a dtype name; 0 when the name is not a known dtype.
int64_t safetensors_dtype_size(const std::string& dtype);

// Builds a complete file image. Throws std::invalid_argument for duplicate or empty names,
// unknown dtypes, negative dims, or a byte count that does not match shape * dtype size.
// Metadata keys "moescope.crc32c" and "moescope.header_crc32c" are reserved and recomputed.
std::string encode_safetensors(const std::vector<TensorRecord>& tensors,
                               const std::map<std::string, std::string>& metadata = {});

// Parses and validates a file image. Every error is a std::runtime_error whose message starts
// with `where` and names the problem: "truncated" (shorter than 8 bytes, header or a tensor
// past the end), invalid JSON, unknown dtype, size mismatch, overlapping offsets, gaps or
// trailing bytes, "corrupted: checksum mismatch".
SafetensorsFile decode_safetensors(const std::string& bytes, const std::string& where);

// A validated header: what decode_safetensors checks, without reading the data section (the
// moescope data checksum, when present, is returned for the caller to verify or skip).
struct SafetensorsEntry {
  std::string name, dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // relative to data_start
};
struct SafetensorsHeader {
  uint64_t data_start = 0;
  std::map<std::string, std::string> metadata;  // without the moescope.* integrity keys
  std::vector<SafetensorsEntry> tensors;        // in name order
  bool has_data_crc = false;
  uint32_t data_crc = 0;
};
// `file_prefix`: at least the first 8 + N bytes of the file; `file_size`: the whole file's size.
SafetensorsHeader parse_safetensors_header(std::string_view file_prefix, uint64_t file_size, const std::string& where);

// Atomic write (write_file_atomic) / read + decode.
void save_safetensors(const std::string& path, const std::vector<TensorRecord>& tensors,
                      const std::map<std::string, std::string>& metadata = {});
SafetensorsFile load_safetensors(const std::string& path);

// A file written tensor by tensor, for data that should never be held in memory at once (a
// model's tensors copied out of a memory-mapped checkpoint). `write` is called once per tensor,
// in name order, and must append exactly numel * dtype size bytes through `out` (checked).
// The file carries no moescope.* checksums (like files from other tools); atomic (AtomicFile).
struct StreamedTensor {
  std::string name, dtype;
  std::vector<int64_t> shape;
  std::function<void(const std::function<void(std::string_view)>& out)> write;
};
// Throws std::invalid_argument as encode_safetensors does, std::runtime_error on a short write.
void save_safetensors_streamed(const std::string& path, std::vector<StreamedTensor> tensors,
                               const std::map<std::string, std::string>& metadata = {});

}  // namespace moescope
