// host_memory_test.cpp: MemAvailable parsing, --max-memory sizes and their errors.
#include <gtest/gtest.h>

#include "core/host_memory.h"

using namespace moescope;

TEST(HostMemory, ParsesMemAvailable) {
  EXPECT_EQ(parse_meminfo_available("MemTotal:       16000000 kB\nMemFree:   100 kB\nMemAvailable:    8000000 kB\n"),
            8000000ull * 1024);
  EXPECT_EQ(parse_meminfo_available("MemTotal: 5 kB\n"), 0u);
  EXPECT_GT(available_memory_bytes(), 0u);  // Linux: /proc/meminfo is there
}

TEST(HostMemory, ParsesProcessStatus) {
  const std::string status = "Name:\tmoescope\nVmHWM:\t  6103840 kB\nRssAnon:\t  165328 kB\nThreads:\t2\n";
  EXPECT_EQ(parse_proc_kb(status, "VmHWM"), 6103840ull * 1024);
  EXPECT_EQ(parse_proc_kb(status, "RssAnon"), 165328ull * 1024);
  EXPECT_EQ(parse_proc_kb(status, "RssFile"), 0u);
  EXPECT_EQ(parse_proc_kb(status, "Rss"), 0u);   // a key, not a prefix of one
  EXPECT_GT(process_status_bytes("VmHWM"), 0u);  // Linux: /proc/self/status is there
}

TEST(HostMemory, ParsesByteSizes) {
  EXPECT_EQ(parse_byte_size("1024", "--max-memory"), 1024u);
  EXPECT_EQ(parse_byte_size("512M", "--max-memory"), 512ull << 20);
  EXPECT_EQ(parse_byte_size("8G", "--max-memory"), 8ull << 30);
  EXPECT_EQ(parse_byte_size("8GiB", "--max-memory"), 8ull << 30);
  EXPECT_EQ(parse_byte_size("1.5K", "--max-memory"), 1536u);
  for (const char* bad : {"", "lots", "8X", "-1G", "0", "1e30T"}) {
    try {
      parse_byte_size(bad, "--max-memory");
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("--max-memory"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(format_bytes(512), "512 B");
  EXPECT_EQ(format_bytes(1536), "1.5 KiB");
  EXPECT_EQ(format_bytes(3.0 * (1ull << 30)), "3.0 GiB");
}
