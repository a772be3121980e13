// jsonl_tail.h: follows a JSON Lines file that another process is appending to.
//
// Each poll reads only the bytes added since the last one and parses the complete lines
// among them; a last line without its newline (still being written) is left for the next
// poll. Malformed lines are skipped with a warning. A file that shrank or was replaced (a
// resumed run rewrites its log) restarts from the beginning and says so.
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
};

struct TailPoll {
  bool restarted = false;  // the file was truncated or replaced: drop what was read before
  std::vector<TailLine> lines;
  std::vector<std::string> warnings;
  bool more = false;  // stopped at max_bytes; poll again for the rest
};

class JsonlTail {
 public:
  explicit JsonlTail(std::string path) : path_(std::move(path)) {}
  // Reads at most about max_bytes of new data (always at least one whole line). A missing
  // file yields nothing. Throws std::runtime_error only when an existing file cannot be read.
  TailPoll poll(size_t max_bytes);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  uint64_t offset_ = 0;   // first byte not yet consumed
  uint64_t line_no_ = 0;  // complete lines consumed
  uint64_t inode_ = 0;
  bool seen_ = false;
};

// Reads the single line at [offset, offset+length) of `path` and parses it. Throws
// std::runtime_error when it cannot be read or is not a JSON object.
nlohmann::json read_line_at(const std::string& path, uint64_t offset, uint32_t length);

}  // namespace moescope::dashboard
