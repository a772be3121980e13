// jsonl.cpp: JSON Lines writer, tolerant reader and step truncation (see jsonl.h).
#include "io/jsonl.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <system_error>

#include "io/atomic_file.h"
#include "io/json_guard.h"

namespace moescope {
namespace {

struct Line {
  size_t number;  // 1-based
  std::string_view text;
  nlohmann::json value;  // discarded when not an object
  bool ok;
};

// Splits `data` into lines and parses each non-blank one; warnings go to `warnings`.
std::vector<Line> parse_lines(const std::string& path, const std::string& data, std::vector<std::string>& warnings) {
  std::vector<Line> lines;
  size_t pos = 0, number = 0;
  while (pos < data.size()) {
    size_t eol = data.find('\n', pos);
    const bool terminated = eol != std::string::npos;
    if (!terminated) eol = data.size();
    std::string_view text(data.data() + pos, eol - pos);
    pos = eol + 1;
    ++number;
    JsonlLine parsed = parse_jsonl_line(text, terminated);
    if (parsed.blank) continue;
    Line line{number, text, std::move(parsed.record), parsed.error.empty()};
    if (!line.ok) warnings.push_back(path + ":" + std::to_string(number) + ": skipped record: " + parsed.error);
    lines.push_back(std::move(line));
  }
  return lines;
}

}  // namespace

JsonlLine parse_jsonl_line(std::string_view body, bool terminated) {
  JsonlLine out;
  if (!body.empty() && body.back() == '\r') body.remove_suffix(1);
  if (body.find_first_not_of(" \t") == std::string_view::npos) {
    out.blank = true;
    return out;
  }
  if (body.size() > kMaxJsonlLineBytes) {
    out.error = "line of " + std::to_string(body.size()) + " bytes is longer than the limit of " +
                std::to_string(kMaxJsonlLineBytes >> 20) + " MiB";
    return out;
  }
  const std::string deep = json_depth_error(body);
  if (!deep.empty()) {
    out.error = "JSON " + deep;
    return out;
  }
  try {
    out.record = nlohmann::json::parse(body.begin(), body.end());
    if (!out.record.is_object()) out.error = "not a JSON object";
  } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for 1e999
    out.error = std::string(terminated ? "malformed JSON (" : "truncated last line without newline (") +
                printable_text(e.what(), 400) + ")";
  }
  return out;
}

JsonlWriter::JsonlWriter(const std::string& path, bool append) : path_(path) {
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) throw std::runtime_error("jsonl '" + path + "': cannot create directory: " + ec.message());
  }
  bool needs_newline = false;
  if (append) {
    if (std::FILE* r = std::fopen(path.c_str(), "rb")) {
      if (std::fseek(r, -1, SEEK_END) == 0) needs_newline = std::fgetc(r) != '\n';
      std::fclose(r);
    }
  }
  file_ = std::fopen(path.c_str(), append ? "ab" : "wb");
  if (!file_) throw std::runtime_error("jsonl '" + path + "': cannot open for writing: " + std::strerror(errno));
  if (needs_newline && (std::fputc('\n', file_) == EOF || std::fflush(file_) != 0)) {
    std::fclose(file_);
    file_ = nullptr;
    throw std::runtime_error("jsonl '" + path + "': write failed: " + std::strerror(errno));
  }
}

JsonlWriter::~JsonlWriter() {
  if (file_) std::fclose(file_);
}

void JsonlWriter::write(const nlohmann::json& record) {
  std::string line = record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  line += '\n';
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0)
    throw std::runtime_error("jsonl '" + path_ + "': write failed: " + std::strerror(errno));
}

JsonlReadResult read_jsonl(const std::string& path) {
  const std::string data = read_file(path);
  JsonlReadResult out;
  for (Line& line : parse_lines(path, data, out.warnings))
    if (line.ok) {
      out.records.push_back(std::move(line.value));
      out.line_numbers.push_back(line.number);
    }
  return out;
}

void truncate_jsonl_after(const std::string& path, const std::string& step_key, int64_t step) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return;
  const std::string data = read_file(path);
  std::vector<std::string> warnings;
  std::string kept;
  kept.reserve(data.size());
  for (const Line& line : parse_lines(path, data, warnings)) {
    if (!line.ok) continue;
    auto it = line.value.find(step_key);
    if (it != line.value.end() && it->is_number()) {
      bool after = it->is_number_unsigned()  ? step < 0 || it->get<uint64_t>() > uint64_t(step)
                   : it->is_number_integer() ? it->get<int64_t>() > step
                                             : it->get<double>() > double(step);
      if (after) continue;
    }
    kept.append(line.text.data(), line.text.size());
    kept += '\n';
  }
  write_file_atomic(path, kept);
}

}  // namespace moescope
