// confined_file.cpp: root-confined, non-blocking opening of regular files (see confined_file.h).
#include "dashboard/confined_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace moescope::dashboard {
namespace {

// The real path of an open descriptor; "" when it cannot be told.
std::string fd_path(int fd) {
  char link[64], buf[PATH_MAX + 1];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  const ssize_t n = ::readlink(link, buf, PATH_MAX);
  if (n <= 0) return "";
  return std::string(buf, size_t(n));
}

}  // namespace

ConfinedFile::ConfinedFile(ConfinedFile&& o) noexcept : status(o.status), fd(o.fd), error(std::move(o.error)) {
  o.fd = -1;
}

ConfinedFile& ConfinedFile::operator=(ConfinedFile&& o) noexcept {
  if (this != &o) {
    if (fd >= 0) ::close(fd);
    status = o.status;
    fd = o.fd;
    error = std::move(o.error);
    o.fd = -1;
  }
  return *this;
}

ConfinedFile::~ConfinedFile() {
  if (fd >= 0) ::close(fd);
}

bool path_inside(const std::string& root, const std::string& p) {
  if (root.empty()) return true;
  if (p.compare(0, root.size(), root) != 0) return false;
  return p.size() == root.size() || p[root.size()] == '/' || root == "/";
}

ConfinedFile open_confined(const std::string& root, const std::string& path) {
  ConfinedFile f;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    if (errno == ENOENT || errno == ENOTDIR) {
      f.status = ConfinedFile::Status::kMissing;
    } else {
      f.status = ConfinedFile::Status::kError;
      f.error = "'" + path + "': cannot open: " + std::strerror(errno);
    }
    return f;
  }
  f.fd = fd;
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    f.status = ConfinedFile::Status::kError;
    f.error = "'" + path + "': cannot stat: " + std::strerror(errno);
  } else if (!S_ISREG(st.st_mode)) {
    f.status = ConfinedFile::Status::kNotRegular;
    f.error = "'" + path + "' is not a regular file; not read";
  } else if (!root.empty()) {
    std::string real = fd_path(fd);
    if (real.empty()) {  // no /proc: resolve the name and make sure it is the file we opened
      char buf[PATH_MAX + 1];
      struct stat st2 {};
      if (::realpath(path.c_str(), buf) && ::stat(buf, &st2) == 0 && st2.st_dev == st.st_dev && st2.st_ino == st.st_ino)
        real = buf;
    }
    f.status = path_inside(root, real) ? ConfinedFile::Status::kOk : ConfinedFile::Status::kOutside;
    if (!f.ok()) f.error = "'" + path + "' resolves outside the log directory; not read";
  } else {
    f.status = ConfinedFile::Status::kOk;
  }
  if (!f.ok()) {
    ::close(fd);
    f.fd = -1;
  }
  return f;
}

bool read_confined(const std::string& root, const std::string& path, size_t max_bytes, std::string& out) {
  ConfinedFile f = open_confined(root, path);
  if (f.status == ConfinedFile::Status::kMissing) return false;
  if (!f.ok()) throw std::runtime_error(f.error);
  std::string data;
  char buf[65536];
  while (true) {
    const ssize_t n = ::read(f.fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error("'" + path + "': read failed: " + std::strerror(errno));
    }
    if (n == 0) break;
    if (data.size() + size_t(n) > max_bytes)
      throw std::runtime_error("'" + path + "' is larger than " + std::to_string(max_bytes) + " bytes; not read");
    data.append(buf, size_t(n));
  }
  out = std::move(data);
  return true;
}

}  // namespace moescope::dashboard
