// atomic_file.h: crash-safe whole-file writes (temp file + fsync + rename) and whole-file reads.
//
// A writer never leaves a half-written file under the final name: data goes to
// "<path>.tmp.<pid>" in the same directory, is flushed and fsync'ed, renamed over `path`
// (atomic on POSIX), and then the directory is fsync'ed so the rename itself is durable.
// A crash before the rename leaves the previous `path` untouched (plus a stale temp file,
// which the next write from the same pid overwrites).
#pragma once
#include <cstdio>
#include <string>
#include <string_view>

namespace moescope {

// Streaming form, for large payloads that should not be assembled in memory first.
//   AtomicFile f(path); f.write(a); f.write(b); f.commit();
// Destroying an AtomicFile without commit() removes the temp file and leaves `path` as it was.
class AtomicFile {
 public:
  explicit AtomicFile(const std::string& path);  // creates parent directories if missing
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(std::string_view data);
  void commit();  // flush + fsync + rename + fsync(dir); throws std::runtime_error on failure

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_path_; }

 private:
  void abandon() noexcept;
  std::string path_, temp_path_;
  std::FILE* file_ = nullptr;
};

// Writes `data` to `path` atomically (see above). Throws std::runtime_error naming the path.
void write_file_atomic(const std::string& path, std::string_view data);

// Reads the whole file. Throws std::runtime_error naming the path when it is missing,
// unreadable, not a regular file (a directory, FIFO, device or socket is refused without
// blocking: it is opened O_NONBLOCK and checked before any read), or longer than `max_bytes`
// (the read stops there, so a file that grows while read cannot exhaust memory either).
constexpr size_t kNoReadLimit = static_cast<size_t>(-1);
std::string read_file(const std::string& path, size_t max_bytes = kNoReadLimit);

// Throws std::runtime_error "'PATH' (what) is a FIFO (named pipe), not a regular file" (or a
// directory, device, socket; or missing) unless `path` names a regular file (symlinks
// followed). Never blocks. For paths that other code opens (mmap, plugins).
void require_regular_file(const std::string& path, const std::string& what);

}  // namespace moescope
