// atomic_file.cpp: temp-file + fsync + rename writes and whole-file reads (see atomic_file.h).
#include "io/atomic_file.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <system_error>

#include <fcntl.h>
#include <unistd.h>

namespace moescope {
namespace {

std::string errno_text() { return std::strerror(errno); }

// fsync of the directory holding `path`, so a completed rename survives a power loss.
void fsync_parent_dir(const std::string& path) {
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (parent.empty()) parent = ".";
  int fd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;  // some filesystems refuse to open directories; the rename already happened
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

AtomicFile::AtomicFile(const std::string& path) : path_(path) {
  if (path.empty()) throw std::invalid_argument("atomic write: empty file path");
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec)
      throw std::runtime_error("atomic write of '" + path + "': cannot create directory '" +
                               parent.string() + "': " + ec.message());
  }
  temp_path_ = path + ".tmp." + std::to_string(::getpid());
  file_ = std::fopen(temp_path_.c_str(), "wb");
  if (!file_)
    throw std::runtime_error("atomic write of '" + path + "': cannot create temp file '" +
                             temp_path_ + "': " + errno_text());
}

AtomicFile::~AtomicFile() { abandon(); }

void AtomicFile::abandon() noexcept {
  if (!file_) return;
  std::fclose(file_);
  file_ = nullptr;
  std::remove(temp_path_.c_str());
}

void AtomicFile::write(std::string_view data) {
  if (!file_) throw std::runtime_error("atomic write of '" + path_ + "': write after commit");
  if (data.empty()) return;
  if (std::fwrite(data.data(), 1, data.size(), file_) != data.size()) {
    std::string why = errno_text();
    abandon();
    throw std::runtime_error("atomic write of '" + path_ + "': write to '" + temp_path_ +
                             "' failed: " + why);
  }
}

void AtomicFile::commit() {
  if (!file_) throw std::runtime_error("atomic write of '" + path_ + "': commit called twice");
  if (std::fflush(file_) != 0 || ::fsync(::fileno(file_)) != 0) {
    std::string why = errno_text();
    abandon();
    throw std::runtime_error("atomic write of '" + path_ + "': flushing '" + temp_path_ +
                             "' failed: " + why);
  }
  int rc = std::fclose(file_);
  file_ = nullptr;
  if (rc != 0) {
    std::string why = errno_text();
    std::remove(temp_path_.c_str());
    throw std::runtime_error("atomic write of '" + path_ + "': closing '" + temp_path_ +
                             "' failed: " + why);
  }
  if (std::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    std::string why = errno_text();
    std::remove(temp_path_.c_str());
    throw std::runtime_error("atomic write of '" + path_ + "': rename from '" + temp_path_ +
                             "' failed: " + why);
  }
  fsync_parent_dir(path_);
}

void write_file_atomic(const std::string& path, std::string_view data) {
  AtomicFile f(path);
  f.write(data);
  f.commit();
}

std::string read_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw std::runtime_error("cannot open '" + path + "' for reading: " + errno_text());
  std::string out;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  bool failed = std::ferror(f) != 0;
  std::string why = failed ? errno_text() : "";
  std::fclose(f);
  if (failed) throw std::runtime_error("error reading '" + path + "': " + why);
  return out;
}

}  // namespace moescope
