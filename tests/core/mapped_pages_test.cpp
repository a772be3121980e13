// mapped_pages_test.cpp: /proc/self/maps parsing and the release of a file mapping's pages:
// RssFile falls after the release, the mapped bytes read back unchanged, and anonymous memory
// (never file-backed) is left alone.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <vector>

#include "core/host_memory.h"
#include "core/mapped_pages.h"

using namespace moescope;

TEST(MappedPages, ParsesFileMappingsOnly) {
  const std::string maps =
      "7f0000001000-7f0000003000 r--p 00000000 08:01 1234 /data/model.safetensors\n"
      "55d000000000-55d000021000 rw-p 00000000 00:00 0 [heap]\n"
      "7f0000000000-7f0000001000 r--s 00000000 08:01 99 /x\n"
      "garbage\n";
  const auto m = parse_file_mappings(maps);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].begin, 0x7f0000000000u);
  EXPECT_EQ(m[1].begin, 0x7f0000001000u);
  EXPECT_EQ(m[1].end, 0x7f0000003000u);
}

TEST(MappedPages, ReleasesFilePagesAndLeavesAnonymousMemory) {
  const size_t n = 32u << 20;
  const auto path =
      (std::filesystem::temp_directory_path() / ("moescope_mapped_pages_" + std::to_string(getpid()))).string();
  {
    std::vector<unsigned char> buf(n);
    for (size_t i = 0; i < n; ++i) buf[i] = static_cast<unsigned char>(i * 7 + 3);
    FILE* f = std::fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(std::fwrite(buf.data(), 1, n, f), n);
    std::fclose(f);
  }
  const int fd = open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  auto* p = static_cast<const unsigned char*>(mmap(nullptr, n, PROT_READ, MAP_PRIVATE, fd, 0));
  close(fd);
  std::filesystem::remove(path);
  ASSERT_NE(p, MAP_FAILED);
  uint64_t sum = 0;
  for (size_t i = 0; i < n; i += 4096) sum += p[i];  // fault every page in
  const uint64_t touched = process_status_bytes("RssFile");
  std::vector<unsigned char> anon(1u << 20, 42);
  const uint64_t released = release_file_pages({{p + 100, n - 200}, {anon.data(), anon.size()}});
  EXPECT_EQ(released, n);  // widened to whole pages, within the mapping; the anonymous range is not file-backed
  const uint64_t after = process_status_bytes("RssFile");
  EXPECT_LT(after + n / 2, touched) << "RssFile " << touched << " -> " << after;
  EXPECT_EQ(anon[12345], 42);
  for (size_t i = 0; i < n; i += 4096 + 17) ASSERT_EQ(p[i], static_cast<unsigned char>(i * 7 + 3));
  EXPECT_GT(sum, 0u);
  munmap(const_cast<unsigned char*>(p), n);
}

TEST(MappedPages, TellsFileMappedRangesFromOthers) {
  const auto maps = parse_file_mappings("1000-3000 r--p 00000000 08:01 7 /m\n5000-6000 r--p 0 08:01 8 /n\n");
  EXPECT_TRUE(inside_file_mapping(maps, reinterpret_cast<const void*>(0x1000), 0x2000));
  EXPECT_FALSE(inside_file_mapping(maps, reinterpret_cast<const void*>(0x2000), 0x2000));  // runs past the end
  EXPECT_FALSE(inside_file_mapping(maps, reinterpret_cast<const void*>(0x4000), 16));
  EXPECT_FALSE(inside_file_mapping(maps, reinterpret_cast<const void*>(0x1000), 0));
  std::vector<int> heap(1 << 20);
  EXPECT_FALSE(inside_file_mapping(current_file_mappings(), heap.data(), heap.size() * sizeof(int)));
}
