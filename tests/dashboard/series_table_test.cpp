// series_table_test.cpp: the column store (NaN back-fill, step lookup) and min/max downsampling.
#include <cmath>

#include <gtest/gtest.h>

#include "dashboard/series_table.h"

namespace moescope::dashboard {

TEST(SeriesTable, BackFillsColumnsThatAppearLate) {
  SeriesTable t;
  t.add_row(10);
  t.set("loss", "", 3.0);
  t.add_row(20);
  t.set("loss", "", 2.0);
  t.set("entropy_norm", "1", 0.9);
  t.add_row(30);
  ASSERT_EQ(t.rows(), 3u);
  const auto* ent = t.column("entropy_norm", "1");
  ASSERT_NE(ent, nullptr);
  EXPECT_TRUE(std::isnan((*ent)[0]));
  EXPECT_FLOAT_EQ((*ent)[1], 0.9f);
  EXPECT_TRUE(std::isnan((*ent)[2]));
  EXPECT_TRUE(std::isnan((*t.column("loss", ""))[2]));
  EXPECT_EQ(t.column("entropy_norm", "2"), nullptr);
  EXPECT_EQ(t.entities("entropy_norm"), std::vector<std::string>{"1"});
}

TEST(SeriesTable, RowAtOrBefore) {
  SeriesTable t;
  EXPECT_EQ(t.row_at_or_before(5), -1);
  for (double s : {10, 20, 30}) t.add_row(s);
  EXPECT_EQ(t.row_at_or_before(5), 0);
  EXPECT_EQ(t.row_at_or_before(20), 1);
  EXPECT_EQ(t.row_at_or_before(29), 1);
  EXPECT_EQ(t.row_at_or_before(1e9), 2);
}

TEST(Downsample, ShortRangesAreReturnedWhole) {
  std::vector<double> steps = {1, 2, 3};
  std::vector<float> v = {5, 6, 7};
  Downsampled d = downsample(steps, {&v, nullptr}, 0, 3, 100);
  EXPECT_EQ(d.x, steps);
  EXPECT_EQ(d.y[0], (std::vector<double>{5, 6, 7}));
  EXPECT_TRUE(std::isnan(d.y[1][0]));
}

TEST(Downsample, KeepsSpikesAndBoundsThePointCount) {
  const size_t n = 20000;
  std::vector<double> steps(n);
  std::vector<float> v(n, 1.0f), w(n, 0.0f);
  for (size_t i = 0; i < n; ++i) steps[i] = double(i + 1);
  v[12345] = 50.0f;  // one-record spike
  v[777] = -3.0f;
  w[n - 1] = 9.0f;
  Downsampled d = downsample(steps, {&v, &w}, 0, n, 1000);
  ASSERT_LE(d.x.size(), 1000u);
  ASSERT_GE(d.x.size(), 990u);
  EXPECT_EQ(d.y[0].size(), d.x.size());
  EXPECT_EQ(*std::max_element(d.y[0].begin(), d.y[0].end()), 50.0);
  EXPECT_EQ(*std::min_element(d.y[0].begin(), d.y[0].end()), -3.0);
  EXPECT_EQ(d.y[1].back(), 9.0);
  EXPECT_EQ(d.x.front(), 1.0);
  EXPECT_EQ(d.x.back(), double(n));
  EXPECT_TRUE(std::is_sorted(d.x.begin(), d.x.end()));
}

TEST(Downsample, RespectsTheRowRange) {
  std::vector<double> steps;
  std::vector<float> v;
  for (int i = 0; i < 5000; ++i) steps.push_back(i), v.push_back(float(i));
  Downsampled d = downsample(steps, {&v}, 1000, 2000, 200);
  EXPECT_EQ(d.x.front(), 1000);
  EXPECT_EQ(d.x.back(), 1999);
  EXPECT_LE(d.x.size(), 200u);
}

}  // namespace moescope::dashboard
