// remove_tree.h: recursive removal of a file or directory tree, without std::filesystem.
//
// Why not std::filesystem::remove_all: the PyTorch 2.11 wheel's libtorch.so exports its own
// copy of std::filesystem::remove_all(const path&), and a program linked against it binds to
// that copy, which jumps to a null address (seen on the GPU machine: every second checkpoint
// save segfaulted; backtrace in cuda-gdb: remove_all() from libtorch.so). This walks the tree
// with POSIX nftw() instead. Symbolic links are removed, never followed.
#pragma once
#include <string>

namespace moescope {

// Removes `path` (a file, a link, or a directory and everything under it). A path that does
// not exist is not an error. Throws std::runtime_error naming the entry that could not be removed.
void remove_tree(const std::string& path);

// The same, for destructors and clean-up paths: returns false instead of throwing.
bool remove_tree_nothrow(const std::string& path) noexcept;

}  // namespace moescope
