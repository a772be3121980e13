// remove_tree.cpp: see remove_tree.h.
#include "io/remove_tree.h"

#include <ftw.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace moescope {
namespace {
thread_local std::string g_failed;  // the first entry nftw could not remove, with the reason

int remove_entry(const char* p, const struct stat*, int, struct FTW*) {
  if (std::remove(p) != 0 && errno != ENOENT) {
    g_failed = std::string(p) + ": " + std::strerror(errno);
    return 1;  // stop the walk
  }
  return 0;
}
}  // namespace

void remove_tree(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return;
    throw std::runtime_error("remove_tree: cannot stat '" + path + "': " + std::strerror(errno));
  }
  g_failed.clear();
  // FTW_DEPTH: children before their directory; FTW_PHYS: links are entries, not followed.
  if (::nftw(path.c_str(), remove_entry, 32, FTW_DEPTH | FTW_PHYS) != 0) {
    const std::string why = g_failed.empty() ? path + ": " + std::strerror(errno) : g_failed;
    throw std::runtime_error("remove_tree: cannot remove " + why);
  }
}

bool remove_tree_nothrow(const std::string& path) noexcept {
  try {
    remove_tree(path);
    return true;
  } catch (...) {
    return false;
  }
}

}  // namespace moescope
