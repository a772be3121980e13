// progress.h: progress of a long pass over a known amount of work (tokens), torch-free. On a
// terminal (isatty) one bar redrawn in place with the rate and the ETA; otherwise nothing
// between intervals and one plain line per interval (logs stay readable). Lines that must
// appear (alerts, interval lines) go through line(), which clears the bar first.
#pragma once
#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>

namespace moescope {

// "12:34" (or "1:02:03" from an hour on); "?" for a negative or non-finite value.
std::string format_duration(double seconds);
// "[#####.....]  45.0%  4,500/10,000 tokens  1,234 tokens/s  ETA 0:04" (width = bar cells).
std::string progress_bar_text(int64_t done, int64_t total, double per_s, const std::string& unit, int width = 30);
// "4,500/10,000 tokens (45.0%), 1,234 tokens/s, ETA 0:04".
std::string progress_line_text(int64_t done, int64_t total, double per_s, const std::string& unit);

class Progress {
 public:
  // tty: draw the bar (pass isatty(fileno(stream)) for the stream behind `out`).
  Progress(std::ostream& out, bool tty, int64_t total, std::string unit = "tokens");
  // Work done so far; redraws the bar on a terminal (at most every 0.1 s, and at the end).
  void update(int64_t done);
  // An interval ended: on a terminal the bar is redrawn; otherwise `prefix` + the plain line.
  void interval(const std::string& prefix);
  // A line of its own (the bar is cleared first and redrawn after).
  void line(const std::string& text);
  // Ends the bar with a newline (terminal only).
  void finish();
  double elapsed_s() const;
  double per_s() const;

 private:
  void draw();
  std::ostream& out_;
  bool tty_;
  int64_t total_, done_ = 0;
  std::string unit_;
  std::chrono::steady_clock::time_point start_, last_draw_;
  bool drawn_ = false;
};

}  // namespace moescope
