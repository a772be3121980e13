// mapped_safetensors.h: a safetensors file memory-mapped read-only (mmap), for large model
// weights (Hugging Face checkpoints). The header is validated as decode_safetensors does
// (parse_safetensors_header); tensor bytes are read in place, so a checkpoint's pages are
// touched only when copied and the OS may drop them again. The moescope data checksum, when
// present, is not verified here (that would read the whole file); the header checksum is.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "io/safetensors.h"

namespace moescope {

class MappedSafetensors {
 public:
  // Throws std::runtime_error naming the file: missing or unreadable, "truncated", invalid header.
  explicit MappedSafetensors(const std::string& path);
  ~MappedSafetensors();
  MappedSafetensors(const MappedSafetensors&) = delete;
  MappedSafetensors& operator=(const MappedSafetensors&) = delete;

  struct View {
    const SafetensorsEntry* entry;
    const unsigned char* data;  // entry->end - entry->begin bytes
    uint64_t size() const { return entry->end - entry->begin; }
  };
  const std::string& path() const { return path_; }
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
  const std::vector<SafetensorsEntry>& entries() const { return header_.tensors; }
  bool has(const std::string& name) const { return index_.count(name) > 0; }
  // Throws naming the tensor and the file when absent.
  View at(const std::string& name) const;
  // Drops this process's resident pages of a tensor (madvise MADV_DONTNEED on the whole pages
  // inside its byte range): a reader that streams a file larger than RAM calls it after copying
  // a tensor out, so that the mapped pages do not accumulate in its RSS. The data stays readable
  // (later accesses fault the pages in again from the page cache or the file).
  void release(const View& v) const;

 private:
  std::string path_;
  void* map_ = nullptr;
  uint64_t size_ = 0;
  SafetensorsHeader header_;
  std::map<std::string, size_t> index_;
};

}  // namespace moescope
