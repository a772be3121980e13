// jsonl_tail.cpp: incremental JSON Lines reader (see jsonl_tail.h).
#include "dashboard/jsonl_tail.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "dashboard/confined_file.h"
#include "io/jsonl.h"

namespace moescope::dashboard {
namespace {

std::string read_range(int fd, const std::string& path, uint64_t offset, size_t n) {
  std::string buf(n, '\0');
  size_t got = 0;
  while (got < n) {
    const ssize_t r = ::pread(fd, buf.data() + got, n - got, off_t(offset + got));
    if (r < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error("'" + path + "': read failed: " + std::strerror(errno));
    }
    if (r == 0) break;
    got += size_t(r);
  }
  buf.resize(got);
  return buf;
}

}  // namespace

TailPoll JsonlTail::poll(size_t max_bytes) {
  TailPoll out;
  max_bytes = std::max<size_t>(max_bytes, 1);
  auto start_over = [&] {
    out.restarted = true;
    offset_ = line_no_ = 0;
    skipping_ = false;
  };
  ConfinedFile f = open_confined(root_, path_);
  if (f.status == ConfinedFile::Status::kError) throw std::runtime_error(f.error);
  if (!f.ok()) {
    if (f.status != ConfinedFile::Status::kMissing && !refused_) {
      out.warnings.push_back(f.error);
      refused_ = true;
    }
    if (seen_ && offset_ > 0) start_over();  // gone (or no longer ours): start over when it comes back
    seen_ = false;
    return out;
  }
  refused_ = false;
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) throw std::runtime_error("'" + path_ + "': cannot stat: " + std::strerror(errno));
  const uint64_t size = uint64_t(st.st_size);
  if (seen_ && (uint64_t(st.st_ino) != inode_ || size < offset_)) start_over();
  // Rewritten in place to at least the same size: the line boundary we stopped at moved.
  if (seen_ && !out.restarted && !skipping_ && offset_ > 0 && read_range(f.fd, path_, offset_ - 1, 1) != "\n")
    start_over();
  if (rewind_) {
    rewind_ = false;
    if (!out.restarted) start_over();
  }
  seen_ = true;
  inode_ = uint64_t(st.st_ino);

  if (skipping_) {  // discard the rest of an over-long line, at most about max_bytes a poll
    size_t scanned = 0;
    while (skipping_ && offset_ < size) {
      if (scanned >= max_bytes) {
        out.more = true;
        return out;
      }
      const std::string chunk = read_range(f.fd, path_, offset_, size_t(std::min<uint64_t>(size - offset_, 1u << 20)));
      if (chunk.empty()) break;
      const size_t nl = chunk.find('\n');
      offset_ += nl == std::string::npos ? chunk.size() : nl + 1;
      scanned += chunk.size();
      if (nl != std::string::npos) skipping_ = false;
    }
    if (skipping_) return out;
  }
  if (size <= offset_) return out;

  const size_t want = size_t(std::min<uint64_t>(size - offset_, max_bytes));
  std::string data = read_range(f.fd, path_, offset_, want);
  // Always make progress by at least one whole line, however long it is, up to the line limit.
  size_t searched = 0;  // bytes of data known to hold no newline
  while (data.find('\n', searched) == std::string::npos) {
    searched = data.size();
    if (data.size() > kMaxJsonlLineBytes) {
      ++line_no_;
      out.warnings.push_back(path_ + ":" + std::to_string(line_no_) +
                             ": skipped record: line longer than the limit of " +
                             std::to_string(kMaxJsonlLineBytes >> 20) + " MiB");
      offset_ += data.size();
      skipping_ = true;
      out.more = offset_ < size;
      return out;
    }
    if (offset_ + data.size() >= size) break;
    std::string more = read_range(f.fd, path_, offset_ + data.size(), want);
    if (more.empty()) break;
    data += more;
  }
  const size_t end = data.rfind('\n');
  if (end == std::string::npos) return out;  // only a partial line so far
  out.more = offset_ + end + 1 < size;

  size_t pos = 0;
  while (pos <= end) {
    const size_t eol = data.find('\n', pos);
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
    out.lines.push_back({std::move(parsed.record), line_offset, uint32_t(length), line_no_});
  }
  offset_ += end + 1;
  return out;
}

nlohmann::json read_line_at(const std::string& path, uint64_t offset, uint32_t length, const std::string& root) {
  ConfinedFile f = open_confined(root, path);
  if (f.status == ConfinedFile::Status::kMissing) throw std::runtime_error("'" + path + "': no longer exists");
  if (!f.ok()) throw std::runtime_error(f.error);
  const std::string data = read_range(f.fd, path, offset, length);
  if (data.size() != length) throw std::runtime_error("'" + path + "': record changed under the reader");
  JsonlLine parsed = parse_jsonl_line(data);
  if (parsed.blank || !parsed.error.empty())
    throw std::runtime_error("'" + path + "': record at byte " + std::to_string(offset) + " is not a JSON object" +
                             (parsed.error.empty() ? std::string() : " (" + parsed.error + ")"));
  return std::move(parsed.record);
}

}  // namespace moescope::dashboard
