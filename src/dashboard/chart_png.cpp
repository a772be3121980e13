// chart_png.cpp: heatmap and line chart rasterisation (see chart_png.h).
#include "dashboard/chart_png.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <stdexcept>

#include "dashboard/png_writer.h"
#include "dashboard/run_index.h"
#include "run/log_fields.h"

namespace moescope::dashboard {
namespace f = log_field;
namespace {

const Rgb kInk{40, 40, 40}, kGrid{225, 225, 225};
constexpr int kFont = 2;  // font scale: 10 x 14 px glyphs

std::string fmt(double v) {
  char buf[32];
  const double a = std::fabs(v);
  if (a == 0) return "0";
  if (v == std::round(v) && a < 1e7) std::snprintf(buf, sizeof buf, "%.0f", v);
  else if (a >= 1e4 || a < 1e-3) std::snprintf(buf, sizeof buf, "%.1e", v);
  else if (a >= 100) std::snprintf(buf, sizeof buf, "%.0f", v);
  else if (a >= 1) std::snprintf(buf, sizeof buf, "%.1f", v);
  else std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

Rgb palette(size_t i, size_t n) {
  static const Rgb p[] = {{31, 119, 180}, {255, 127, 14},  {44, 160, 44},   {214, 39, 40},  {148, 103, 189},
                          {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207}};
  if (n <= 10) return p[i % 10];
  const double h = double(i) / double(n) * 6.0;  // hue wheel for many layers
  const double f = h - std::floor(h);
  const uint8_t hi = 200, lo = 40, up = uint8_t(lo + (hi - lo) * f), dn = uint8_t(hi - (hi - lo) * f);
  switch (int(h) % 6) {
    case 0: return {hi, up, lo};
    case 1: return {dn, hi, lo};
    case 2: return {lo, hi, up};
    case 3: return {lo, dn, hi};
    case 4: return {up, lo, hi};
    default: return {hi, lo, dn};
  }
}

}  // namespace

Image render_heatmap(const std::vector<std::vector<double>>& m, const HeatmapImageSpec& spec) {
  const int rows = int(m.size());
  int cols = 0;
  for (const auto& r : m) cols = std::max(cols, int(r.size()));
  if (!rows || !cols) throw std::runtime_error("heatmap: empty matrix");
  const int cell = std::clamp(900 / cols, 10, 48), cell_h = std::clamp(600 / rows, 10, 40);
  const int left = 70, top = 44, legend = 150;
  const int W = left + cols * cell + legend, H = std::max(top + rows * cell_h + 70, top + 260);
  Image img(W, H);
  double lo = spec.lo, hi = spec.hi;
  if (hi < lo) {
    lo = std::numeric_limits<double>::infinity();
    hi = -lo;
    for (const auto& r : m)
      for (double v : r)
        if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  } else {
    for (const auto& r : m)
      for (double v : r)
        if (std::isfinite(v)) hi = std::max(hi, v);
  }
  if (!(hi > lo)) hi = lo + 1e-12;
  img.text(left, 12, spec.title, kInk, kFont);
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < int(m[size_t(i)].size()); ++j)
      img.fill_rect(left + j * cell, top + i * cell_h, cell - 1, cell_h - 1,
                    sequential_color((m[size_t(i)][size_t(j)] - lo) / (hi - lo)));
  const int row_step = std::max(1, (7 * kFont + 4 + cell_h - 1) / cell_h);
  for (int i = 0; i < rows; i += row_step) {
    const std::string label = i < int(spec.row_labels.size()) ? spec.row_labels[size_t(i)] : std::to_string(i);
    img.text(left - 6 - Image::text_width(label, kFont), top + i * cell_h + (cell_h - 7 * kFont) / 2, label, kInk,
             kFont);
  }
  const int col_step = std::max(1, (Image::text_width("00", kFont) + 6 + cell - 1) / cell);
  for (int j = 0; j < cols; j += col_step) {
    const std::string label = std::to_string(j);
    img.text(left + j * cell + (cell - Image::text_width(label, kFont)) / 2, top + rows * cell_h + 6, label, kInk,
             kFont);
  }
  img.text(left + (cols * cell - Image::text_width("expert", kFont)) / 2, top + rows * cell_h + 30, "expert", kInk,
           kFont);
  img.text_vertical(8, top + (rows * cell_h + Image::text_width("layer", kFont)) / 2, "layer", kInk, kFont);
  const int lx = left + cols * cell + 16, lh = std::max(rows * cell_h, 200);
  for (int y = 0; y < lh; ++y) img.fill_rect(lx, top + y, 16, 1, sequential_color(1.0 - double(y) / lh));
  for (double t : {0.0, 0.5, 1.0}) {
    const int y = top + int((1.0 - t) * (lh - 1));
    img.fill_rect(lx + 16, y, 4, 1, kInk);
    img.text(lx + 24, y - 7, fmt((lo + (hi - lo) * t) * spec.legend_multiplier) + spec.legend_suffix, kInk, kFont);
  }
  img.text(lx - 4, top + lh + 10, spec.legend_title, kInk, kFont);
  return img;
}

Image render_line_chart(const std::vector<LineSeries>& series, const std::string& title, const std::string& y_label) {
  const int W = 1000, H = 560, left = 100, right = 150, top = 44, bottom = 70;
  Image img(W, H);
  double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
  for (const auto& s : series)
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i)
      if (std::isfinite(s.y[i]))
        x0 = std::min(x0, s.x[i]), x1 = std::max(x1, s.x[i]), y0 = std::min(y0, s.y[i]), y1 = std::max(y1, s.y[i]);
  if (!std::isfinite(x0)) throw std::runtime_error("line chart: no finite values");
  if (!(x1 > x0)) x1 = x0 + 1;
  const double pad = (y1 - y0) * 0.05 + 1e-9;
  y0 -= pad;
  y1 += pad;
  const int pw = W - left - right, ph = H - top - bottom;
  auto px = [&](double x) { return left + int(std::lround((x - x0) / (x1 - x0) * (pw - 1))); };
  auto py = [&](double y) { return top + int(std::lround((1.0 - (y - y0) / (y1 - y0)) * (ph - 1))); };
  img.text(left, 12, title, kInk, kFont);
  for (int k = 0; k <= 4; ++k) {
    const double yv = y0 + (y1 - y0) * k / 4.0, xv = x0 + (x1 - x0) * k / 4.0;
    img.fill_rect(left, py(yv), pw, 1, kGrid);
    img.fill_rect(px(xv), top, 1, ph, kGrid);
    const std::string yl = fmt(yv), xl = fmt(std::round(xv));
    img.text(left - 8 - Image::text_width(yl, kFont), py(yv) - 7, yl, kInk, kFont);
    img.text(px(xv) - Image::text_width(xl, kFont) / 2, top + ph + 8, xl, kInk, kFont);
  }
  img.fill_rect(left, top, 1, ph, kInk);
  img.fill_rect(left, top + ph, pw, 1, kInk);
  img.text(left + (pw - Image::text_width("step", kFont)) / 2, top + ph + 34, "step", kInk, kFont);
  img.text_vertical(10, top + (ph + Image::text_width(y_label, kFont)) / 2, y_label, kInk, kFont);
  for (size_t s = 0; s < series.size(); ++s) {
    const Rgb c = palette(s, series.size());
    bool have = false;
    int lx = 0, ly = 0;
    for (size_t i = 0; i < series[s].x.size() && i < series[s].y.size(); ++i) {
      if (!std::isfinite(series[s].y[i])) {
        have = false;
        continue;
      }
      const int x = px(series[s].x[i]), y = py(series[s].y[i]);
      if (have) img.line(lx, ly, x, y, c, 2);
      lx = x, ly = y, have = true;
    }
    const int ky = top + int(s) * 18;
    if (ky < top + ph - 10) {
      img.fill_rect(W - right + 14, ky + 5, 16, 4, c);
      img.text(W - right + 36, ky, series[s].label, kInk, kFont);
    }
  }
  return img;
}

std::vector<std::string> write_run_pngs(const std::string& run_dir, const std::string& out_dir) {
  RunIndex index(run_dir);
  index.update_all();
  auto lock = index.read_lock();
  const SeriesTable& t = index.train();
  if (!t.rows() || index.layers().empty())
    throw std::runtime_error("run '" + run_dir + "' has no routing records to draw");
  const nlohmann::json rec = index.record_at(t.rows() - 1);
  std::vector<std::vector<double>> load;
  HeatmapImageSpec spec;
  const nlohmann::json none = nlohmann::json::array();
  const nlohmann::json& moe = rec.contains(f::kMoe) && rec[f::kMoe].is_array() ? rec[f::kMoe] : none;
  for (const auto& l : moe) {  // entries of the wrong shape are left out, as the dashboard does
    if (!l.is_object() || !l.contains(f::kLoad) || !l[f::kLoad].is_array() || !l.contains(f::kLayer) ||
        !l[f::kLayer].is_number_integer())
      continue;
    std::vector<double> row;
    for (const auto& v : l[f::kLoad]) row.push_back(v.is_number() ? v.get<double>() : std::nan(""));
    load.push_back(row);
    spec.row_labels.push_back("L" + std::to_string(l[f::kLayer].get<int64_t>()));
  }
  if (load.empty()) throw std::runtime_error("run '" + run_dir + "': the last train record has no load vectors");
  spec.title = "expert load at step " + fmt(t.steps().back()) + " (% of top-k slots)";
  spec.hi = 2.0 / double(index.experts());
  std::filesystem::create_directories(out_dir);
  const std::string heat = out_dir + "/heatmap.png", ent = out_dir + "/entropy.png";
  write_png(heat, render_heatmap(load, spec));

  std::vector<const std::vector<float>*> cols;
  std::vector<LineSeries> lines;
  for (const std::string& e : t.entities(f::kEntropyNorm)) {
    cols.push_back(t.column(f::kEntropyNorm, e));
    lines.push_back({"L" + e, {}, {}});
  }
  Downsampled d = downsample(t.steps(), cols, 0, t.rows(), 1000);
  for (size_t i = 0; i < lines.size(); ++i) lines[i].x = d.x, lines[i].y = d.y[i];
  write_png(ent, render_line_chart(lines, "load entropy (normalised) per layer", "entropy"));
  return {heat, ent};
}

}  // namespace moescope::dashboard
