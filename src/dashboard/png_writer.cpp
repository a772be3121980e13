// png_writer.cpp: minimal PNG encoder over zlib (see png_writer.h).
#include "dashboard/png_writer.h"

#include <stdexcept>

#include <zlib.h>

#include "io/atomic_file.h"

namespace moescope::dashboard {
namespace {

void put_u32(std::string& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(char((v >> s) & 0xFF));
}

void chunk(std::string& out, const char* type, const std::string& data) {
  put_u32(out, uint32_t(data.size()));
  std::string body = std::string(type, 4) + data;
  out += body;
  put_u32(out, uint32_t(crc32(0L, reinterpret_cast<const Bytef*>(body.data()), uInt(body.size()))));
}

}  // namespace

std::string encode_png(const Image& img) {
  const size_t stride = size_t(img.width()) * 3;
  std::string raw;
  raw.reserve((stride + 1) * size_t(img.height()));
  const auto& px = img.pixels();
  for (int y = 0; y < img.height(); ++y) {
    raw.push_back('\0');  // filter: none
    raw.append(reinterpret_cast<const char*>(px.data()) + size_t(y) * stride, stride);
  }
  uLongf zlen = compressBound(uLong(raw.size()));
  std::string z(zlen, '\0');
  if (compress2(reinterpret_cast<Bytef*>(z.data()), &zlen, reinterpret_cast<const Bytef*>(raw.data()),
                uLong(raw.size()), 9) != Z_OK)
    throw std::runtime_error("png: deflate failed");
  z.resize(zlen);

  std::string out("\x89PNG\r\n\x1a\n", 8);
  std::string ihdr;
  put_u32(ihdr, uint32_t(img.width()));
  put_u32(ihdr, uint32_t(img.height()));
  ihdr += std::string("\x08\x02\x00\x00\x00", 5);  // 8-bit, RGB, deflate, no filter method, no interlace
  chunk(out, "IHDR", ihdr);
  chunk(out, "IDAT", z);
  chunk(out, "IEND", "");
  return out;
}

void write_png(const std::string& path, const Image& image) { write_file_atomic(path, encode_png(image)); }

}  // namespace moescope::dashboard
