// report_png_test.cpp: the self-contained report (everything inlined, the responses the page
// asks for embedded under their keys) and the PNG encoder and charts.
#include <fstream>

#include <gtest/gtest.h>
#include <zlib.h>

#include "dashboard/chart_png.h"
#include "dashboard/png_writer.h"
#include "dashboard/report.h"
#include "io/atomic_file.h"
#include "io/io_test_util.h"
#include "synthetic_log.h"

namespace moescope::dashboard {
namespace {

uint32_t be32(const std::string& s, size_t at) {
  return uint32_t(uint8_t(s[at])) << 24 | uint32_t(uint8_t(s[at + 1])) << 16 | uint32_t(uint8_t(s[at + 2])) << 8 |
         uint8_t(s[at + 3]);
}

}  // namespace

TEST(Report, IsSelfContainedAndHoldsTheData) {
  moescope::testing::TempDir tmp;
  moescope::testing::SyntheticLogSpec spec;
  spec.records = 50;
  spec.layers = 3;
  spec.coactivation_every = 10;
  spec.alert_every = 20;
  moescope::testing::write_synthetic_run(tmp.path() + "/myrun", spec);
  std::ofstream(tmp.path() + "/myrun/alerts.jsonl", std::ios::app)
      << "{\"step\":50,\"layer\":1,\"rule\":\"</script><b>x\"}\n";
  const std::string html = build_report(tmp.path() + "/myrun");
  EXPECT_EQ(html.find("<script src="), std::string::npos);
  EXPECT_EQ(html.find("href=\"assets/"), std::string::npos);
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("</script><b>"), std::string::npos);  // data cannot close the script early
  EXPECT_NE(html.find("<title>moescope report: myrun</title>"), std::string::npos);
  const size_t a = html.find("window.MOESCOPE_STATIC = ") + 25;
  const size_t b = html.find(";</script>", a);
  std::string data = html.substr(a, b - a);
  for (size_t p = 0; (p = data.find("<\\/", p)) != std::string::npos;) data.replace(p, 3, "</");
  const auto j = nlohmann::json::parse(data);
  const auto& r = j["responses"];
  EXPECT_EQ(j["run"], "myrun");
  EXPECT_EQ(r["/api/heatmap?field=load"]["step"], 50);
  EXPECT_EQ(r["/api/heatmap?field=load"]["values"].size(), 3u);
  EXPECT_EQ(r["/api/series?field=entropy_norm&points=1000&table=train"]["series"].size(), 3u);
  EXPECT_EQ(r["/api/heatmap?field=coactivation&layer=2"]["layer"], 2);
  EXPECT_EQ(r["/api/health?"]["layers"].size(), 3u);
  EXPECT_EQ(r["/api/events?"]["alerts"].size(), 3u);
  EXPECT_EQ(static_key("/api/series", {{"run", "x"}, {"table", "t"}, {"field", "f"}}), "/api/series?field=f&table=t");
  moescope::testing::expect_error<std::runtime_error>([&] { build_report(tmp.path()); }, {"no metrics.jsonl"});
}

TEST(Png, EncodesPixelsLosslessly) {
  Image img(3, 2);
  img.set(0, 0, {255, 0, 0});
  img.set(2, 1, {1, 2, 3});
  const std::string png = encode_png(img);
  ASSERT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_EQ(png.substr(12, 4), "IHDR");
  EXPECT_EQ(be32(png, 16), 3u);
  EXPECT_EQ(be32(png, 20), 2u);
  const size_t idat = png.find("IDAT");
  ASSERT_NE(idat, std::string::npos);
  const uint32_t len = be32(png, idat - 4);
  EXPECT_EQ(be32(png, idat + 4 + len), uint32_t(crc32(0, reinterpret_cast<const Bytef*>(png.data() + idat), len + 4)));
  std::string raw(2 * (1 + 9), '\0');
  uLongf rawlen = raw.size();
  ASSERT_EQ(uncompress(reinterpret_cast<Bytef*>(raw.data()), &rawlen,
                       reinterpret_cast<const Bytef*>(png.data() + idat + 4), len),
            Z_OK);
  EXPECT_EQ(uint8_t(raw[1]), 255);
  EXPECT_EQ(uint8_t(raw[2]), 0);
  EXPECT_EQ(uint8_t(raw[10 + 7]), 1);
  EXPECT_EQ(uint8_t(raw[10 + 9]), 3);
  EXPECT_NE(png.find("IEND"), std::string::npos);
}

TEST(Png, HeatmapColoursFollowTheScale) {
  HeatmapImageSpec spec;
  spec.title = "load";
  spec.lo = 0;
  spec.hi = 1;
  Image img = render_heatmap({{0.0, 1.0}, {0.5, 0.0}}, spec);
  // cells start at (70, 44); the first cell is the scale's low end, the second its high end
  const Rgb lo = sequential_color(0), hi = sequential_color(1);
  EXPECT_EQ(img.at(75, 50).r, lo.r);
  EXPECT_EQ(img.at(75, 50).b, lo.b);
  const int cell = 48;  // 900 / 2 columns, clamped
  EXPECT_EQ(img.at(70 + cell + 5, 50).g, hi.g);
}

TEST(Png, WritesTheRunsHeatmapAndEntropyChart) {
  moescope::testing::TempDir tmp;
  moescope::testing::SyntheticLogSpec spec;
  spec.records = 40;
  moescope::testing::write_synthetic_run(tmp.path() + "/r", spec);
  const auto files = write_run_pngs(tmp.path() + "/r", tmp.path() + "/png");
  ASSERT_EQ(files.size(), 2u);
  for (const auto& f : files) EXPECT_EQ(read_file(f).substr(1, 3), "PNG");
  std::ofstream(tmp.path() + "/empty/metrics.jsonl");
  std::filesystem::create_directories(tmp.path() + "/empty");
  std::ofstream(tmp.path() + "/empty/metrics.jsonl") << "{\"schema\":1,\"type\":\"train\",\"step\":1,\"loss\":2}\n";
  moescope::testing::expect_error<std::runtime_error>(
      [&] { write_run_pngs(tmp.path() + "/empty", tmp.path() + "/p2"); }, {"no routing records"});
}

}  // namespace moescope::dashboard
