// jsonl_tail.cpp: incremental JSON Lines reader (see jsonl_tail.h).
#include "dashboard/jsonl_tail.h"

#include "io/jsonl.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>

namespace moescope::dashboard {
namespace {

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

std::string read_range(std::FILE* f, const std::string& path, uint64_t offset, size_t n) {
  std::string buf(n, '\0');
  if (fseeko(f, off_t(offset), SEEK_SET) != 0)
    throw std::runtime_error("'" + path + "': seek failed: " + std::strerror(errno));
  size_t got = std::fread(buf.data(), 1, n, f);
  if (got < n && std::ferror(f)) throw std::runtime_error("'" + path + "': read failed: " + std::strerror(errno));
  buf.resize(got);
  return buf;
}

}  // namespace

TailPoll JsonlTail::poll(size_t max_bytes) {
  TailPoll out;
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) {
    if (seen_ && offset_ > 0) {  // the file went away: start over when it comes back
      out.restarted = true;
      offset_ = line_no_ = 0;
    }
    return out;
  }
  const uint64_t size = uint64_t(st.st_size);
  if (seen_ && (uint64_t(st.st_ino) != inode_ || size < offset_)) {
    out.restarted = true;
    offset_ = line_no_ = 0;
  }
  seen_ = true;
  inode_ = uint64_t(st.st_ino);
  if (size == offset_) return out;

  File f(std::fopen(path_.c_str(), "rb"));
  if (!f) throw std::runtime_error("'" + path_ + "': cannot open: " + std::strerror(errno));
  size_t want = size_t(std::min<uint64_t>(size - offset_, std::max<size_t>(max_bytes, 1)));
  std::string data = read_range(f.get(), path_, offset_, want);
  // Always make progress by at least one whole line, however long it is.
  while (data.find('\n') == std::string::npos && offset_ + data.size() < size) {
    std::string more = read_range(f.get(), path_, offset_ + data.size(), want);
    if (more.empty()) break;
    data += more;
  }
  size_t end = data.rfind('\n');
  if (end == std::string::npos) return out;  // only a partial line so far
  out.more = offset_ + end + 1 < size;

  size_t pos = 0;
  while (pos <= end) {
    size_t eol = data.find('\n', pos);
    std::string_view text(data.data() + pos, eol - pos);
    const uint64_t line_offset = offset_ + pos;
    pos = eol + 1;
    ++line_no_;
    JsonlLine parsed = parse_jsonl_line(text);
    if (parsed.blank) continue;
    if (!parsed.error.empty()) {
      out.warnings.push_back(path_ + ":" + std::to_string(line_no_) + ": skipped record: " + parsed.error);
      continue;
    }
    const size_t length = !text.empty() && text.back() == '\r' ? text.size() - 1 : text.size();
    out.lines.push_back({std::move(parsed.record), line_offset, uint32_t(length)});
  }
  offset_ += end + 1;
  return out;
}

nlohmann::json read_line_at(const std::string& path, uint64_t offset, uint32_t length) {
  File f(std::fopen(path.c_str(), "rb"));
  if (!f) throw std::runtime_error("'" + path + "': cannot open: " + std::strerror(errno));
  std::string data = read_range(f.get(), path, offset, length);
  if (data.size() != length) throw std::runtime_error("'" + path + "': record changed under the reader");
  nlohmann::json v = nlohmann::json::parse(data, nullptr, /*allow_exceptions=*/false);
  if (!v.is_object()) throw std::runtime_error("'" + path + "': record at byte " + std::to_string(offset) + " is not a JSON object");
  return v;
}

}  // namespace moescope::dashboard
