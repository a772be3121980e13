// mapped_safetensors.cpp: see mapped_safetensors.h.
#include "io/mapped_safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string_view>

namespace moescope {

MappedSafetensors::MappedSafetensors(const std::string& path) : path_(path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error(path + ": cannot open (" + std::strerror(errno) + ")");
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw std::runtime_error(path + ": not a regular file");
  }
  size_ = static_cast<uint64_t>(st.st_size);
  if (size_ > 0) {
    map_ = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map_ == MAP_FAILED) {
      map_ = nullptr;
      ::close(fd);
      throw std::runtime_error(path + ": mmap failed (" + std::strerror(errno) + ")");
    }
  }
  ::close(fd);
  try {
    const std::string_view all(static_cast<const char*>(map_), size_);
    header_ = parse_safetensors_header(all, size_, path);
  } catch (...) {
    if (map_) ::munmap(map_, size_);
    map_ = nullptr;
    throw;
  }
  for (size_t i = 0; i < header_.tensors.size(); ++i) index_[header_.tensors[i].name] = i;
}

MappedSafetensors::~MappedSafetensors() {
  if (map_) ::munmap(map_, size_);
}

MappedSafetensors::View MappedSafetensors::at(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) throw std::runtime_error(path_ + ": no tensor '" + name + "'");
  const SafetensorsEntry& e = header_.tensors[it->second];
  return View{&e, static_cast<const unsigned char*>(map_) + header_.data_start + e.begin};
}

void MappedSafetensors::release(const View& v) const {
  if (!map_ || v.size() == 0) return;
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const uint64_t off = static_cast<uint64_t>(v.data - static_cast<const unsigned char*>(map_));
  const uint64_t begin = (off + page - 1) / page * page, end = (off + v.size()) / page * page;
  if (end > begin) ::madvise(static_cast<char*>(map_) + begin, end - begin, MADV_DONTNEED);
}

}  // namespace moescope
