// progress.cpp: see progress.h.
#include "core/progress.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace moescope {
namespace {
std::string thousands(int64_t v) {
  std::string s = std::to_string(v < 0 ? -v : v), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return v < 0 ? "-" + out : out;
}
double eta(int64_t done, int64_t total, double per_s) {
  if (done >= total) return 0;
  return per_s > 0 ? double(total - done) / per_s : -1;
}
}  // namespace

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  const int64_t t = static_cast<int64_t>(std::llround(s));
  char b[48];
  if (t >= 3600)
    std::snprintf(b, sizeof b, "%lld:%02lld:%02lld", static_cast<long long>(t / 3600),
                  static_cast<long long>(t / 60 % 60), static_cast<long long>(t % 60));
  else std::snprintf(b, sizeof b, "%lld:%02lld", static_cast<long long>(t / 60), static_cast<long long>(t % 60));
  return b;
}

std::string progress_line_text(int64_t done, int64_t total, double per_s, const std::string& unit) {
  char pct[32];
  std::snprintf(pct, sizeof pct, "%.1f%%", total > 0 ? 100.0 * double(done) / double(total) : 100.0);
  return thousands(done) + "/" + thousands(total) + " " + unit + " (" + pct + "), " +
         thousands(static_cast<int64_t>(std::llround(per_s))) + " " + unit + "/s, ETA " +
         format_duration(eta(done, total, per_s));
}

std::string progress_bar_text(int64_t done, int64_t total, double per_s, const std::string& unit, int width) {
  const double f = total > 0 ? std::min(1.0, std::max(0.0, double(done) / double(total))) : 1.0;
  const int fill = static_cast<int>(f * width);
  std::string bar = "[" + std::string(fill, '#') + std::string(width - fill, '.') + "]";
  char pct[32];
  std::snprintf(pct, sizeof pct, "%5.1f%%", 100.0 * f);
  return bar + " " + pct + "  " + thousands(done) + "/" + thousands(total) + " " + unit + "  " +
         thousands(static_cast<int64_t>(std::llround(per_s))) + " " + unit + "/s  ETA " +
         format_duration(eta(done, total, per_s));
}

Progress::Progress(std::ostream& out, bool tty, int64_t total, std::string unit)
    : out_(out),
      tty_(tty),
      total_(total),
      unit_(std::move(unit)),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

double Progress::elapsed_s() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

double Progress::per_s() const {
  const double e = elapsed_s();
  return e > 0 ? double(done_) / e : 0.0;
}

void Progress::draw() {
  out_ << "\r" << progress_bar_text(done_, total_, per_s(), unit_) << "\x1b[K" << std::flush;
  drawn_ = true;
  last_draw_ = std::chrono::steady_clock::now();
}

void Progress::update(int64_t done) {
  done_ = done;
  if (!tty_) return;
  const auto now = std::chrono::steady_clock::now();
  if (!drawn_ || done_ >= total_ || std::chrono::duration<double>(now - last_draw_).count() >= 0.1) draw();
}

void Progress::interval(const std::string& prefix) {
  if (tty_) draw();
  else out_ << prefix << progress_line_text(done_, total_, per_s(), unit_) << "\n" << std::flush;
}

void Progress::line(const std::string& text) {
  if (tty_ && drawn_) out_ << "\r\x1b[K";
  out_ << text << "\n";
  if (tty_ && drawn_) draw();
  else out_ << std::flush;
}

void Progress::finish() {
  if (tty_ && drawn_) {
    draw();
    out_ << "\n" << std::flush;
  }
}

}  // namespace moescope
