// chart_png.h: the report's PNG images: the layer x expert load heatmap at the final step and
// the per-layer load-entropy chart, drawn with raster.h and written with png_writer.h.
#pragma once
#include <string>
#include <vector>

#include "dashboard/raster.h"

namespace moescope::dashboard {

struct HeatmapImageSpec {
  std::string title;
  std::vector<std::string> row_labels;  // one per row
  std::string legend_title = "% of slots";
  double legend_multiplier = 100;  // legend labels show value * multiplier + suffix
  std::string legend_suffix = "%";
  double lo = 0, hi = -1;  // colour range; hi < lo: the data's range
};
Image render_heatmap(const std::vector<std::vector<double>>& matrix, const HeatmapImageSpec& spec);

struct LineSeries {
  std::string label;
  std::vector<double> x, y;  // NaN y values leave gaps
};
Image render_line_chart(const std::vector<LineSeries>& series, const std::string& title, const std::string& y_label);

// Writes OUT_DIR/heatmap.png and OUT_DIR/entropy.png for the run; returns their paths.
// Throws std::runtime_error when the run has no train records with routing data.
std::vector<std::string> write_run_pngs(const std::string& run_dir, const std::string& out_dir);

}  // namespace moescope::dashboard
