// raster.cpp: drawing primitives and the 5x7 bitmap font (see raster.h).
#include "dashboard/raster.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <map>
#include <stdexcept>

namespace moescope::dashboard {
namespace {

// Classic 5x7 font, column-major: 5 bytes per glyph, bit 0 = top row.
const std::map<char, std::array<uint8_t, 5>>& font() {
  static const std::map<char, std::array<uint8_t, 5>> f = {
      {'0', {0x3E, 0x51, 0x49, 0x45, 0x3E}}, {'1', {0x00, 0x42, 0x7F, 0x40, 0x00}},
      {'2', {0x42, 0x61, 0x51, 0x49, 0x46}}, {'3', {0x21, 0x41, 0x45, 0x4B, 0x31}},
      {'4', {0x18, 0x14, 0x12, 0x7F, 0x10}}, {'5', {0x27, 0x45, 0x45, 0x45, 0x39}},
      {'6', {0x3C, 0x4A, 0x49, 0x49, 0x30}}, {'7', {0x01, 0x71, 0x09, 0x05, 0x03}},
      {'8', {0x36, 0x49, 0x49, 0x49, 0x36}}, {'9', {0x06, 0x49, 0x49, 0x29, 0x1E}},
      {'A', {0x7E, 0x11, 0x11, 0x11, 0x7E}}, {'B', {0x7F, 0x49, 0x49, 0x49, 0x36}},
      {'C', {0x3E, 0x41, 0x41, 0x41, 0x22}}, {'D', {0x7F, 0x41, 0x41, 0x22, 0x1C}},
      {'E', {0x7F, 0x49, 0x49, 0x49, 0x41}}, {'F', {0x7F, 0x09, 0x09, 0x09, 0x01}},
      {'G', {0x3E, 0x41, 0x49, 0x49, 0x7A}}, {'H', {0x7F, 0x08, 0x08, 0x08, 0x7F}},
      {'I', {0x00, 0x41, 0x7F, 0x41, 0x00}}, {'J', {0x20, 0x40, 0x41, 0x3F, 0x01}},
      {'K', {0x7F, 0x08, 0x14, 0x22, 0x41}}, {'L', {0x7F, 0x40, 0x40, 0x40, 0x40}},
      {'M', {0x7F, 0x02, 0x0C, 0x02, 0x7F}}, {'N', {0x7F, 0x04, 0x08, 0x10, 0x7F}},
      {'O', {0x3E, 0x41, 0x41, 0x41, 0x3E}}, {'P', {0x7F, 0x09, 0x09, 0x09, 0x06}},
      {'Q', {0x3E, 0x41, 0x51, 0x21, 0x5E}}, {'R', {0x7F, 0x09, 0x19, 0x29, 0x46}},
      {'S', {0x46, 0x49, 0x49, 0x49, 0x31}}, {'T', {0x01, 0x01, 0x7F, 0x01, 0x01}},
      {'U', {0x3F, 0x40, 0x40, 0x40, 0x3F}}, {'V', {0x1F, 0x20, 0x40, 0x20, 0x1F}},
      {'W', {0x3F, 0x40, 0x38, 0x40, 0x3F}}, {'X', {0x63, 0x14, 0x08, 0x14, 0x63}},
      {'Y', {0x07, 0x08, 0x70, 0x08, 0x07}}, {'Z', {0x61, 0x51, 0x49, 0x45, 0x43}},
      {'.', {0x00, 0x60, 0x60, 0x00, 0x00}}, {'-', {0x08, 0x08, 0x08, 0x08, 0x08}},
      {'%', {0x23, 0x13, 0x08, 0x64, 0x62}}, {':', {0x00, 0x36, 0x36, 0x00, 0x00}},
      {'/', {0x20, 0x10, 0x08, 0x04, 0x02}}, {'(', {0x00, 0x1C, 0x22, 0x41, 0x00}},
      {')', {0x00, 0x41, 0x22, 0x1C, 0x00}}, {'_', {0x40, 0x40, 0x40, 0x40, 0x40}},
      {'=', {0x14, 0x14, 0x14, 0x14, 0x14}}, {',', {0x00, 0x50, 0x30, 0x00, 0x00}},
      {'+', {0x08, 0x08, 0x3E, 0x08, 0x08}}, {' ', {0x00, 0x00, 0x00, 0x00, 0x00}}};
  return f;
}

const std::array<uint8_t, 5>& glyph(char c) {
  const auto& f = font();
  auto it = f.find(c);  // lower case is drawn as upper case
  if (it == f.end()) it = f.find(char(std::toupper(static_cast<unsigned char>(c))));
  if (it == f.end()) it = f.find('-');
  return it->second;
}

Rgb lerp(const std::vector<Rgb>& stops, double t) {
  if (!std::isfinite(t)) return {255, 255, 255};
  t = std::clamp(t, 0.0, 1.0);
  const double x = t * double(stops.size() - 1);
  const size_t i = std::min(stops.size() - 2, size_t(x));
  const double f = x - double(i);
  auto mix = [&](uint8_t a, uint8_t b) { return uint8_t(std::lround(a + (b - a) * f)); };
  return {mix(stops[i].r, stops[i + 1].r), mix(stops[i].g, stops[i + 1].g), mix(stops[i].b, stops[i + 1].b)};
}

}  // namespace

Image::Image(int width, int height, Rgb bg) : w_(width), h_(height) {
  if (width <= 0 || height <= 0 || width > 16384 || height > 16384) throw std::invalid_argument("bad image size");
  px_.resize(size_t(w_) * size_t(h_) * 3);
  for (size_t i = 0; i < px_.size(); i += 3) {
    px_[i] = bg.r;
    px_[i + 1] = bg.g;
    px_[i + 2] = bg.b;
  }
}

Rgb Image::at(int x, int y) const {
  const size_t i = (size_t(y) * size_t(w_) + size_t(x)) * 3;
  return {px_.at(i), px_.at(i + 1), px_.at(i + 2)};
}

void Image::set(int x, int y, Rgb c) {
  if (x < 0 || y < 0 || x >= w_ || y >= h_) return;
  const size_t i = (size_t(y) * size_t(w_) + size_t(x)) * 3;
  px_[i] = c.r;
  px_[i + 1] = c.g;
  px_[i + 2] = c.b;
}

void Image::fill_rect(int x, int y, int w, int h, Rgb c) {
  for (int yy = std::max(0, y); yy < std::min(h_, y + h); ++yy)
    for (int xx = std::max(0, x); xx < std::min(w_, x + w); ++xx) set(xx, yy, c);
}

void Image::line(int x0, int y0, int x1, int y1, Rgb c, int thickness) {
  const int dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
  int err = dx + dy;
  const int r0 = -(thickness - 1) / 2, r1 = thickness / 2;
  while (true) {
    fill_rect(x0 + r0, y0 + r0, r1 - r0 + 1, r1 - r0 + 1, c);
    if (x0 == x1 && y0 == y1) break;
    const int e2 = 2 * err;
    if (e2 >= dy) {
      err += dy;
      x0 += sx;
    }
    if (e2 <= dx) {
      err += dx;
      y0 += sy;
    }
  }
}

void Image::text(int x, int y, const std::string& s, Rgb c, int scale) {
  for (size_t k = 0; k < s.size(); ++k) {
    const auto& g = glyph(s[k]);
    for (int col = 0; col < 5; ++col)
      for (int row = 0; row < 7; ++row)
        if (g[size_t(col)] >> row & 1) fill_rect(x + (int(k) * 6 + col) * scale, y + row * scale, scale, scale, c);
  }
}

void Image::text_vertical(int x, int y, const std::string& s, Rgb c, int scale) {
  for (size_t k = 0; k < s.size(); ++k) {
    const auto& g = glyph(s[k]);
    for (int col = 0; col < 5; ++col)
      for (int row = 0; row < 7; ++row)
        if (g[size_t(col)] >> row & 1) fill_rect(x + row * scale, y - (int(k) * 6 + col + 1) * scale, scale, scale, c);
  }
}

Rgb sequential_color(double t) {
  static const std::vector<Rgb> stops = {{68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}};
  return lerp(stops, t);
}

Rgb diverging_color(double t) {
  static const std::vector<Rgb> stops = {{33, 102, 172}, {247, 247, 247}, {178, 24, 43}};
  return lerp(stops, t);
}

}  // namespace moescope::dashboard
