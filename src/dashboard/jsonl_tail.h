// jsonl_tail.h: follows a JSON Lines file that another process is appending to.
//
// Each poll reads only the bytes added since the last one and parses the complete lines
// among them; a last line without its newline (still being written) is left for the next
// poll. Malformed lines are skipped with a warning, and so are lines longer than
// kMaxJsonlLineBytes (io/jsonl.h) or nested too deep, without ever holding more than the limit
// in memory. A file that shrank or was replaced (a resumed run rewrites its log) restarts from
// the beginning and says so; so does one rewritten in place whose byte before the read offset is
// no longer a newline, and any file after rewind(). With a `root`, the file is only read while its real path lies
// inside that directory (confined_file.h); otherwise it is treated as missing, with one warning.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace moescope::dashboard {

struct TailLine {
  nlohmann::json record;  // a JSON object
  uint64_t offset = 0;    // byte offset of the line in the file
  uint32_t length = 0;    // bytes, without the newline
  uint64_t line = 0;      // 1-based line number, for messages
};

struct TailPoll {
  bool restarted = false;  // the file was truncated or replaced: drop what was read before
  std::vector<TailLine> lines;
  std::vector<std::string> warnings;
  bool more = false;  // stopped at max_bytes; poll again for the rest
};

class JsonlTail {
 public:
  explicit JsonlTail(std::string path, std::string root = "") : path_(std::move(path)), root_(std::move(root)) {}
  // Reads at most about max_bytes of new data (always at least one whole line). A missing
  // file yields nothing. Throws std::runtime_error only when an existing file cannot be read.
  TailPoll poll(size_t max_bytes);
  const std::string& path() const { return path_; }
  // The next poll starts over from the beginning (restarted = true): for a reader that found the
  // file no longer matching what was read (rewritten in place, same inode, not shorter).
  void rewind() { rewind_ = true; }

 private:
  std::string path_;
  std::string root_;       // "" = anywhere
  uint64_t offset_ = 0;    // first byte not yet consumed
  bool skipping_ = false;  // inside an over-long line: discard up to its newline
  bool refused_ = false;   // warned that the file is outside the root / not a regular file
  uint64_t line_no_ = 0;   // complete lines consumed
  uint64_t inode_ = 0;
  bool seen_ = false;
  bool rewind_ = false;
};

// Reads the single line at [offset, offset+length) of `path` (confined to `root` when given)
// and parses it. Throws std::runtime_error when it cannot be read or is not a JSON object.
nlohmann::json read_line_at(const std::string& path, uint64_t offset, uint32_t length, const std::string& root = "");

}  // namespace moescope::dashboard
