// confined_file.h: opening a run's files only where their real path lies inside the log
// directory.
//
// The dashboard promises to serve nothing from outside its log directory. Run directories are
// checked when found (run_catalog.h), but a file in one may be a symlink (or become one later)
// to anywhere, so every file is checked again when it is opened: the path of the open file
// descriptor (/proc/self/fd) is resolved and compared with the root, which also covers a link
// swapped between a check and the open. Only regular files are opened (a FIFO would block the
// reader forever), non-blocking, so nothing here can hang.
#pragma once
#include <string>

namespace moescope::dashboard {

struct ConfinedFile {
  enum class Status { kOk, kMissing, kOutside, kNotRegular, kError };
  Status status = Status::kMissing;
  int fd = -1;        // owned; open only when status == kOk
  std::string error;  // why not, naming the path (kOutside, kNotRegular, kError)

  ConfinedFile() = default;
  ConfinedFile(ConfinedFile&& o) noexcept;
  ConfinedFile& operator=(ConfinedFile&& o) noexcept;
  ConfinedFile(const ConfinedFile&) = delete;
  ConfinedFile& operator=(const ConfinedFile&) = delete;
  ~ConfinedFile();
  bool ok() const { return status == Status::kOk; }
};

// Opens `path` read-only. `root` is a canonical directory, or "" for no confinement (the
// report and PNG commands read a run the user named). Never throws.
ConfinedFile open_confined(const std::string& root, const std::string& path);

// Whether the canonical path `p` is `root` itself or lies below it.
bool path_inside(const std::string& root, const std::string& p);

// Reads at most `max_bytes` of a confined file from its start. Throws std::runtime_error
// naming the path when it is outside the root, not a regular file, larger than `max_bytes`,
// or unreadable; returns false (out untouched) when it is missing.
bool read_confined(const std::string& root, const std::string& path, size_t max_bytes, std::string& out);

}  // namespace moescope::dashboard
