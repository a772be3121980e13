// token_file.cpp: writing and memory-mapping tokenised corpus caches (see token_file.h).
#include "data/token_file.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/atomic_file.h"
#include "io/crc32c.h"

namespace moescope {
namespace {

const char kMagic[8] = {'M', 'S', 'T', 'O', 'K', 'E', 'N', '\0'};
const char* const kDeleteHint = " (delete this cache file and it will be rebuilt)";

void put_le(uint8_t* p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) p[i] = uint8_t(v >> (8 * i));
}

uint64_t get_le(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = v << 8 | p[i];
  return v;
}

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error("token file '" + path + "': " + what);
}

}  // namespace

void write_token_file(const std::string& path, const std::vector<int32_t>& tokens, uint64_t corpus_hash,
                      uint64_t tokenizer_hash) {
  int32_t max_id = 0;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0)
      throw std::invalid_argument("writing token file '" + path + "': negative token id " + std::to_string(tokens[i]) +
                                  " at position " + std::to_string(i));
    max_id = std::max(max_id, tokens[i]);
  }
  const uint32_t bpt = max_id < 65536 ? 2 : 4;

  std::string payload(tokens.size() * bpt, '\0');
  auto* p = reinterpret_cast<uint8_t*>(payload.data());
  for (size_t i = 0; i < tokens.size(); ++i) put_le(p + i * bpt, uint32_t(tokens[i]), int(bpt));

  uint8_t h[kTokenFileHeaderBytes] = {};
  std::memcpy(h, kMagic, 8);
  put_le(h + 8, kTokenFileVersion, 4);
  put_le(h + 12, bpt, 4);
  put_le(h + 16, tokens.size(), 8);
  put_le(h + 24, corpus_hash, 8);
  put_le(h + 32, tokenizer_hash, 8);
  put_le(h + 40, crc32c(payload.data(), payload.size()), 4);

  AtomicFile f(path);
  f.write(std::string_view(reinterpret_cast<const char*>(h), sizeof h));
  f.write(payload);
  f.commit();
}

TokenFile TokenFile::open(const std::string& path, bool verify_crc) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);  // a FIFO must not block
  if (fd < 0) fail(path, std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    fail(path, std::string("cannot stat: ") + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(path, "not a regular file" + std::string(kDeleteHint));
  }
  const size_t file_bytes = size_t(st.st_size);
  if (file_bytes < kTokenFileHeaderBytes) {
    ::close(fd);
    fail(path, "truncated: " + std::to_string(file_bytes) + " bytes, shorter than the " +
                   std::to_string(kTokenFileHeaderBytes) + "-byte header" + kDeleteHint);
  }
  void* m = ::mmap(nullptr, file_bytes, PROT_READ, MAP_SHARED, fd, 0);
  int err = errno;
  ::close(fd);
  if (m == MAP_FAILED) fail(path, std::string("mmap failed: ") + std::strerror(err));

  TokenFile tf;  // owns the mapping from here on, so every throw below unmaps it
  tf.path_ = path;
  tf.map_ = m;
  tf.map_bytes_ = file_bytes;
  const auto* h = static_cast<const uint8_t*>(m);
  if (std::memcmp(h, kMagic, 8) != 0) fail(path, "bad magic: not a moescope token file" + std::string(kDeleteHint));
  uint32_t version = uint32_t(get_le(h + 8, 4));
  if (version != kTokenFileVersion)
    fail(path, "unsupported version " + std::to_string(version) + " (this build reads version " +
                   std::to_string(kTokenFileVersion) + ")" + kDeleteHint);
  tf.bytes_per_token_ = uint32_t(get_le(h + 12, 4));
  if (tf.bytes_per_token_ != 2 && tf.bytes_per_token_ != 4)
    fail(path, "invalid bytes_per_token " + std::to_string(tf.bytes_per_token_) + kDeleteHint);
  uint64_t n = get_le(h + 16, 8);
  uint64_t payload_bytes = file_bytes - kTokenFileHeaderBytes;
  if (n > payload_bytes / tf.bytes_per_token_)
    fail(path, "truncated: header says " + std::to_string(n) + " tokens but the file holds only " +
                   std::to_string(payload_bytes / tf.bytes_per_token_) + kDeleteHint);
  if (n * tf.bytes_per_token_ != payload_bytes)
    fail(path, "size mismatch: " + std::to_string(payload_bytes - n * tf.bytes_per_token_) + " trailing bytes after " +
                   std::to_string(n) + " tokens" + kDeleteHint);
  tf.n_tokens_ = size_t(n);
  tf.corpus_hash_ = get_le(h + 24, 8);
  tf.tokenizer_hash_ = get_le(h + 32, 8);
  tf.payload_ = h + kTokenFileHeaderBytes;
  if (verify_crc) {
    uint32_t stored = uint32_t(get_le(h + 40, 4));
    uint32_t actual = crc32c(tf.payload_, payload_bytes);
    if (stored != actual) fail(path, "corrupted: payload checksum mismatch" + std::string(kDeleteHint));
  }
  return tf;
}

TokenFile::TokenFile(TokenFile&& o) noexcept { *this = std::move(o); }

TokenFile& TokenFile::operator=(TokenFile&& o) noexcept {
  if (this == &o) return *this;
  unmap();
  path_ = std::move(o.path_);
  map_ = o.map_;
  map_bytes_ = o.map_bytes_;
  payload_ = o.payload_;
  n_tokens_ = o.n_tokens_;
  bytes_per_token_ = o.bytes_per_token_;
  corpus_hash_ = o.corpus_hash_;
  tokenizer_hash_ = o.tokenizer_hash_;
  o.map_ = nullptr;
  o.map_bytes_ = 0;
  o.payload_ = nullptr;
  o.n_tokens_ = 0;
  return *this;
}

TokenFile::~TokenFile() { unmap(); }

void TokenFile::unmap() noexcept {
  if (map_) ::munmap(map_, map_bytes_);
  map_ = nullptr;
  payload_ = nullptr;
  n_tokens_ = 0;
}

int32_t TokenFile::at(size_t i) const {
  if (i >= n_tokens_)
    throw std::out_of_range("token file '" + path_ + "': index " + std::to_string(i) + " out of range (" +
                            std::to_string(n_tokens_) + " tokens)");
  return (*this)[i];
}

}  // namespace moescope
