// jsonl.h: run logs as JSON Lines, one JSON object per line, robust to crashes mid-write.
//
// The writer flushes after every record, so a crash loses at most the record being written,
// which then shows up as a truncated last line. The reader skips such lines (and any other
// line that is not a JSON object) with a warning naming the file and 1-based line number,
// instead of failing the whole log.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace moescope {

class JsonlWriter {
 public:
  // append=false truncates. Creates parent directories. When appending to a file whose last
  // line lacks its newline (a crash mid-record), a newline is written first so the new
  // record starts on its own line. Throws std::runtime_error naming the path.
  JsonlWriter(const std::string& path, bool append);
  ~JsonlWriter();
  JsonlWriter(const JsonlWriter&) = delete;
  JsonlWriter& operator=(const JsonlWriter&) = delete;

  // Writes `record` as one compact line and flushes. Invalid UTF-8 in strings is replaced
  // by U+FFFD rather than failing. Throws std::runtime_error on I/O errors.
  void write(const nlohmann::json& record);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
};

// A line longer than this is skipped unparsed (the largest real records, co-activation
// matrices of every layer of a 256-expert model, are a few tens of MB).
inline constexpr size_t kMaxJsonlLineBytes = size_t(64) << 20;

// One line of a JSON Lines file, parsed: the one line parser of the reader below and of the
// dashboard's tail. `blank` lines carry nothing; otherwise `record` is a JSON object, or `error`
// says why the line is skipped (`terminated`: whether the line ended with its newline): not
// JSON, not an object, longer than kMaxJsonlLineBytes or nested deeper than kMaxJsonDepth
// (json_guard.h). The error is printable (invalid UTF-8 escaped).
struct JsonlLine {
  bool blank = false;
  nlohmann::json record;
  std::string error;  // empty when record is a JSON object
};
JsonlLine parse_jsonl_line(std::string_view text, bool terminated = true);

struct JsonlReadResult {
  std::vector<nlohmann::json> records;  // JSON objects, in file order
  std::vector<size_t> line_numbers;     // the 1-based line of each record, for messages
  std::vector<std::string> warnings;    // "<path>:<line>: skipped ..." per bad line
};

// Reads every well-formed record. Blank lines are ignored silently. Throws std::runtime_error
// only when the file cannot be read.
JsonlReadResult read_jsonl(const std::string& path);

// Atomically rewrites `path` keeping only records whose `step_key` is a number <= step;
// records without the key (or with a non-numeric value) are kept, malformed lines dropped.
// Kept lines are copied byte for byte. A missing file is left missing (nothing to truncate).
void truncate_jsonl_after(const std::string& path, const std::string& step_key, int64_t step);

}  // namespace moescope
