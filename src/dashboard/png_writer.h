// png_writer.h: encodes an RGB Image as a PNG file (8-bit truecolour, zlib-deflated).
#pragma once
#include <string>

#include "dashboard/raster.h"

namespace moescope::dashboard {

// The PNG file's bytes.
std::string encode_png(const Image& image);
// Writes encode_png(image) atomically to `path`. Throws std::runtime_error on I/O errors.
void write_png(const std::string& path, const Image& image);

}  // namespace moescope::dashboard
