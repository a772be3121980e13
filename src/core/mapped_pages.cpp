// mapped_pages.cpp: see mapped_pages.h.
#include "core/mapped_pages.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#if defined(__GLIBC__)
#include <malloc.h>
#endif
#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace moescope {

std::vector<FileMapping> parse_file_mappings(const std::string& text) {
  // "begin-end perms offset dev inode [path]"; an inode of 0 is anonymous memory.
  std::vector<FileMapping> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::istringstream ls(line);
    std::string range, perms, offset, dev, inode;
    if (!(ls >> range >> perms >> offset >> dev >> inode) || inode == "0") continue;
    const auto dash = range.find('-');
    if (dash == std::string::npos) continue;
    try {
      FileMapping m{static_cast<uintptr_t>(std::stoull(range.substr(0, dash), nullptr, 16)),
                    static_cast<uintptr_t>(std::stoull(range.substr(dash + 1), nullptr, 16))};
      if (m.end > m.begin) out.push_back(m);
    } catch (const std::exception&) {  // not a maps line
    }
  }
  std::sort(out.begin(), out.end(), [](const FileMapping& a, const FileMapping& b) { return a.begin < b.begin; });
  return out;
}

std::vector<FileMapping> current_file_mappings() {
  std::ifstream f("/proc/self/maps");
  if (!f) return {};
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_file_mappings(ss.str());
}

namespace {
// The mapping holding [p, p + n), or nullptr.
const FileMapping* mapping_of(const std::vector<FileMapping>& maps, uintptr_t p, size_t n) {
  auto it =
      std::upper_bound(maps.begin(), maps.end(), p, [](uintptr_t v, const FileMapping& m) { return v < m.begin; });
  if (it == maps.begin()) return nullptr;
  --it;
  return p >= it->begin && p + n <= it->end ? &*it : nullptr;
}
}  // namespace

bool inside_file_mapping(const std::vector<FileMapping>& maps, const void* p, size_t n) {
  return n > 0 && mapping_of(maps, reinterpret_cast<uintptr_t>(p), n) != nullptr;
}

uint64_t release_file_pages(const std::vector<std::pair<const void*, size_t>>& ranges) {
#if defined(__linux__)
  const auto maps = current_file_mappings();
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  uint64_t released = 0;
  for (const auto& [ptr, n] : ranges) {
    const auto p = reinterpret_cast<uintptr_t>(ptr);
    const FileMapping* m = n ? mapping_of(maps, p, n) : nullptr;
    if (!m) continue;
    const uintptr_t lo = std::max(m->begin, p / page * page);
    const uintptr_t hi = std::min(m->end, (p + n + page - 1) / page * page);
    if (madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED) == 0) released += hi - lo;
  }
  return released;
#else
  (void)ranges;
  return 0;
#endif
}

bool trim_free_heap() {
#if defined(__GLIBC__)
  return malloc_trim(0) != 0;
#else
  return false;
#endif
}

}  // namespace moescope
