// assets.h: the dashboard's web assets (web/*, uPlot), embedded into the binary at build
// time by cmake/embed_assets.cmake, so the dashboard and reports work offline with no files
// beside the binary.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace moescope::dashboard {

struct Asset {
  const char* name;  // "index.html", "dashboard.js", "uPlot.iife.min.js", ...
  const unsigned char* data;
  size_t size;
};

// nullptr when there is no such asset.
const Asset* find_asset(std::string_view name);
// The asset's bytes; throws std::runtime_error when missing (a build error).
std::string asset_text(std::string_view name);
// MIME type from the name's extension.
std::string asset_mime(std::string_view name);

}  // namespace moescope::dashboard
