// raster.h: a tiny RGB raster for the report's PNG charts: rectangles, lines and text in a
// built-in 5x7 bitmap font (digits, letters, a few symbols; lower case drawn as upper case).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace moescope::dashboard {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
};

class Image {
 public:
  Image(int width, int height, Rgb background = {255, 255, 255});
  int width() const { return w_; }
  int height() const { return h_; }
  const std::vector<uint8_t>& pixels() const { return px_; }  // row-major RGB
  Rgb at(int x, int y) const;

  void set(int x, int y, Rgb c);  // ignores pixels outside the image
  void fill_rect(int x, int y, int w, int h, Rgb c);
  void line(int x0, int y0, int x1, int y1, Rgb c, int thickness = 1);
  // Draws `text` with its top-left corner at (x, y); each font pixel is scale x scale.
  void text(int x, int y, const std::string& text, Rgb c, int scale = 1);
  // Like text(), rotated 90 degrees counter-clockwise (reads bottom to top), (x, y) = bottom-left.
  void text_vertical(int x, int y, const std::string& text, Rgb c, int scale = 1);
  static int text_width(const std::string& text, int scale = 1) { return int(text.size()) * 6 * scale; }

 private:
  int w_, h_;
  std::vector<uint8_t> px_;
};

// Colour maps shared with the web page: viridis-like sequential and blue-white-red diverging.
Rgb sequential_color(double t);
Rgb diverging_color(double t);

}  // namespace moescope::dashboard
