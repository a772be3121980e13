// mapped_pages.h: giving back the resident pages of read-only file mappings (torch-free), for
// streamed passes over memory-mapped weights (scope --model --max-memory): after a layer is
// done, its tensors' pages leave this process's RSS (madvise MADV_DONTNEED) and are read again
// from the page cache, or the file, when touched. Only ranges inside a file-backed mapping of
// /proc/self/maps are released: MADV_DONTNEED on anonymous memory would zero it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace moescope {

// [begin, end) of one file-backed mapping (a /proc/self/maps line with an inode).
struct FileMapping {
  uintptr_t begin = 0, end = 0;
};
// The file-backed mappings of a /proc/<pid>/maps image, sorted by address.
std::vector<FileMapping> parse_file_mappings(const std::string& maps_text);

// This process's file-backed mappings now (empty where /proc/self/maps is absent).
std::vector<FileMapping> current_file_mappings();
// Whether [p, p + n) lies wholly inside one of `maps` (sorted, as parse_file_mappings gives).
bool inside_file_mapping(const std::vector<FileMapping>& maps, const void* p, size_t n);

// Releases the pages of each range (pointer, bytes) that lies wholly inside one file-backed
// mapping of this process (the range is widened to whole pages, within that mapping); other
// ranges are left alone. Returns the bytes released (page-rounded). Linux only; 0 elsewhere.
uint64_t release_file_pages(const std::vector<std::pair<const void*, size_t>>& ranges);

// Gives the allocator's free memory back to the OS (glibc malloc_trim(0): every arena, free
// pages inside the heaps too), so that a streamed pass's temporaries of one layer do not stay
// resident as free heap through the next. Returns whether anything was released; false elsewhere.
bool trim_free_heap();

}  // namespace moescope
