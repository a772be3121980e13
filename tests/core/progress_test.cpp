// progress_test.cpp: the progress texts (bar, plain line, ETA) and what a terminal and a log get.
#include <sstream>

#include <gtest/gtest.h>

#include "core/progress.h"

using namespace moescope;

TEST(Progress, FormatsDurationsBarsAndLines) {
  EXPECT_EQ(format_duration(0), "0:00");
  EXPECT_EQ(format_duration(75.4), "1:15");
  EXPECT_EQ(format_duration(3723), "1:02:03");
  EXPECT_EQ(format_duration(-1), "?");
  // 2,500 of 10,000 at 500/s: 7,500 left, ETA 15 s.
  EXPECT_EQ(progress_line_text(2500, 10000, 500, "tokens"), "2,500/10,000 tokens (25.0%), 500 tokens/s, ETA 0:15");
  EXPECT_EQ(progress_bar_text(2500, 10000, 500, "tokens", 8),
            "[##......]  25.0%  2,500/10,000 tokens  500 tokens/s  ETA 0:15");
  EXPECT_EQ(progress_bar_text(10000, 10000, 0, "tokens", 4),
            "[####] 100.0%  10,000/10,000 tokens  0 tokens/s  ETA 0:00");
  EXPECT_EQ(progress_line_text(1, 10, 0, "tokens"), "1/10 tokens (10.0%), 0 tokens/s, ETA ?");  // no rate yet
}

TEST(Progress, ALogGetsOneLinePerIntervalATerminalOneRedrawnBar) {
  std::ostringstream log;
  Progress p(log, false, 100);
  p.update(10);
  p.update(20);
  EXPECT_EQ(log.str(), "");  // nothing between intervals
  p.interval("scope: step 2: ");
  p.line("an alert");
  p.finish();
  const std::string s = log.str();
  EXPECT_EQ(s.rfind("scope: step 2: 20/100 tokens (20.0%), ", 0), 0u) << s;
  EXPECT_NE(s.find("tokens/s, ETA "), std::string::npos) << s;
  EXPECT_NE(s.find("\nan alert\n"), std::string::npos) << s;
  EXPECT_EQ(s.find('\r'), std::string::npos) << s;

  std::ostringstream tty;
  Progress t(tty, true, 100);
  t.update(50);
  t.line("an alert");
  t.update(100);
  t.finish();
  const std::string u = tty.str();
  EXPECT_EQ(u.rfind("\r[", 0), 0u) << u;
  EXPECT_NE(u.find("\r\x1b[Kan alert\n\r["), std::string::npos) << u;  // bar cleared, line, bar redrawn
  EXPECT_NE(u.find("100/100 tokens"), std::string::npos) << u;
  EXPECT_EQ(u.back(), '\n');
}
