// atomic_file.cpp: temp-file + fsync + rename writes and whole-file reads (see atomic_file.h).
#include "io/atomic_file.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <system_error>

#include <fcntl.h>
#include <sys/stat.h>
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

// "a directory", "a FIFO (named pipe)", ... for a mode that is not a regular file.
std::string kind_of(mode_t m) {
  if (S_ISDIR(m)) return "a directory";
  if (S_ISFIFO(m)) return "a FIFO (named pipe)";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISSOCK(m)) return "a socket";
  return "not a regular file";
}

[[noreturn]] void not_regular(const std::string& path, const std::string& what, mode_t m) {
  const std::string label = "'" + path + "'" + (what.empty() ? "" : " (" + what + ")");
  throw std::runtime_error(label + " is " + kind_of(m) + ", not a regular file");
}

}  // namespace

AtomicFile::AtomicFile(const std::string& path) : path_(path) {
  if (path.empty()) throw std::invalid_argument("atomic write: empty file path");
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec)
      throw std::runtime_error("atomic write of '" + path + "': cannot create directory '" + parent.string() +
                               "': " + ec.message());
  }
  temp_path_ = path + ".tmp." + std::to_string(::getpid());
  file_ = std::fopen(temp_path_.c_str(), "wb");
  if (!file_)
    throw std::runtime_error("atomic write of '" + path + "': cannot create temp file '" + temp_path_ +
                             "': " + errno_text());
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
    throw std::runtime_error("atomic write of '" + path_ + "': write to '" + temp_path_ + "' failed: " + why);
  }
}

void AtomicFile::commit() {
  if (!file_) throw std::runtime_error("atomic write of '" + path_ + "': commit called twice");
  if (std::fflush(file_) != 0 || ::fsync(::fileno(file_)) != 0) {
    std::string why = errno_text();
    abandon();
    throw std::runtime_error("atomic write of '" + path_ + "': flushing '" + temp_path_ + "' failed: " + why);
  }
  int rc = std::fclose(file_);
  file_ = nullptr;
  if (rc != 0) {
    std::string why = errno_text();
    std::remove(temp_path_.c_str());
    throw std::runtime_error("atomic write of '" + path_ + "': closing '" + temp_path_ + "' failed: " + why);
  }
  if (std::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    std::string why = errno_text();
    std::remove(temp_path_.c_str());
    throw std::runtime_error("atomic write of '" + path_ + "': rename from '" + temp_path_ + "' failed: " + why);
  }
  fsync_parent_dir(path_);
}

void write_file_atomic(const std::string& path, std::string_view data) {
  AtomicFile f(path);
  f.write(data);
  f.commit();
}

std::string read_file(const std::string& path, size_t max_bytes) {
  // O_NONBLOCK: opening a FIFO without a writer returns at once instead of blocking.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("cannot open '" + path + "' for reading: " + errno_text());
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const std::string why = errno_text();
    ::close(fd);
    throw std::runtime_error("cannot stat '" + path + "': " + why);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    not_regular(path, "", st.st_mode);
  }
  auto too_long = [&](uint64_t n) {
    ::close(fd);
    throw std::runtime_error("'" + path + "' is " + std::to_string(n) + " bytes or more, over the " +
                             std::to_string(max_bytes) + "-byte limit for this kind of file");
  };
  if (static_cast<uint64_t>(st.st_size) > max_bytes) too_long(static_cast<uint64_t>(st.st_size));
  std::string out;
  out.reserve(static_cast<size_t>(st.st_size));
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string why = errno_text();
      ::close(fd);
      throw std::runtime_error("error reading '" + path + "': " + why);
    }
    if (out.size() + static_cast<size_t>(n) > max_bytes) too_long(out.size() + static_cast<size_t>(n));
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

void require_regular_file(const std::string& path, const std::string& what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throw std::runtime_error("'" + path + "'" + (what.empty() ? "" : " (" + what + ")") + ": " + errno_text());
  if (!S_ISREG(st.st_mode)) not_regular(path, what, st.st_mode);
}

}  // namespace moescope
