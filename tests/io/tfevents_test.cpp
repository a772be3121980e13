// tfevents_test.cpp: TensorBoard event files: framing and CRCs checked independently of the
// reader, event decoding, histogram encoding, and corruption detection.
#include "io/tfevents.h"

#include <cstring>

#include "io/atomic_file.h"
#include "io/crc32c.h"
#include "io/proto_wire.h"
#include "io_test_util.h"

using namespace moescope;
using moescope::testing::expect_error;
using moescope::testing::TempDir;

namespace {

uint64_t le(const std::string& s, size_t pos, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = v << 8 | uint8_t(s[pos + i]);
  return v;
}

// Walks the raw file and checks each record's framing; returns the payloads.
std::vector<std::string> parse_frames(const std::string& raw) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < raw.size()) {
    EXPECT_GE(raw.size() - pos, 16u);
    uint64_t len = le(raw, pos, 8);
    uint32_t c = crc32c(raw.data() + pos, 8);
    EXPECT_EQ(le(raw, pos + 8, 4), uint32_t(((c >> 15) | (c << 17)) + 0xa282ead8u));
    std::string data = raw.substr(pos + 12, len);
    c = crc32c(data.data(), data.size());
    EXPECT_EQ(le(raw, pos + 12 + len, 4), uint32_t(((c >> 15) | (c << 17)) + 0xa282ead8u));
    out.push_back(data);
    pos += 16 + len;
  }
  return out;
}

}  // namespace

TEST(TfEvents, FileNameFramingAndFirstRecord) {
  TempDir dir;
  std::string path;
  {
    TfEventsWriter w(dir.file("tb"));
    path = w.path();
    w.add_scalar("train/loss", 2.25f, 7);
    w.add_scalar("train/lr", 3e-4f, -1);
    w.flush();
  }
  const std::string name = std::filesystem::path(path).filename().string();
  EXPECT_EQ(name.rfind("events.out.tfevents.", 0), 0u) << name;
  EXPECT_EQ(std::filesystem::path(path).parent_path().string(), dir.file("tb"));

  const std::string raw = read_file(path);
  auto frames = parse_frames(raw);
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(read_tfrecords(path), frames);

  DecodedEvent first = decode_event(frames[0]);
  EXPECT_EQ(first.file_version, "brain.Event:2");
  EXPECT_GT(first.wall_time, 1.5e9);
  EXPECT_FALSE(decode_scalar_event(frames[0]).has_value());

  auto s = decode_scalar_event(frames[1]);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->tag, "train/loss");
  EXPECT_EQ(s->value, 2.25f);
  EXPECT_EQ(s->step, 7);
  EXPECT_GE(s->wall_time, first.wall_time);
  auto s2 = decode_scalar_event(frames[2]);
  ASSERT_TRUE(s2.has_value());
  EXPECT_EQ(s2->step, -1);  // negative int64 as a 10-byte varint
  EXPECT_EQ(s2->value, 3e-4f);
}

TEST(TfEvents, ScalarEventBytesMatchProtobufEncoding) {
  TempDir dir;
  std::string path;
  {
    TfEventsWriter w(dir.path());
    path = w.path();
    w.add_scalar("a", 1.0f, 300);
  }
  std::string ev = read_tfrecords(path)[1];
  // Event: 0x09 <8 bytes wall_time>, 0x10 varint(300) = ac 02, 0x2a len Summary.
  ASSERT_GE(ev.size(), 9u);
  EXPECT_EQ(uint8_t(ev[0]), 0x09);
  EXPECT_EQ(ev.substr(9), std::string("\x10\xac\x02\x2a\x0a\x0a\x08\x0a\x01"
                                      "a\x15\x00\x00\x80\x3f",
                                      15));
}

TEST(TfEvents, HistogramRoundTrip) {
  TempDir dir;
  std::string path;
  {
    TfEventsWriter w(dir.path());
    path = w.path();
    w.add_histogram("router/load", {0.5, 1.0, 2.0}, {3, 0, 7}, 0.1, 1.9, 10, 12.5, 20.25, 5);
    expect_error<std::invalid_argument>(
        [&] {
          w.add_histogram("h", {1}, {1, 2}, 0, 0, 0, 0, 0, 0);
        },
        {"'h'", "1 bucket limits but 2 counts"});
  }
  auto recs = read_tfrecords(path);
  ASSERT_EQ(recs.size(), 2u);
  DecodedEvent e = decode_event(recs[1]);
  EXPECT_EQ(e.step, 5);
  ASSERT_EQ(e.values.size(), 1u);
  EXPECT_EQ(e.values[0].tag, "router/load");
  EXPECT_FALSE(e.values[0].simple_value.has_value());
  ASSERT_TRUE(e.values[0].histo.has_value());
  const DecodedHistogram& h = *e.values[0].histo;
  EXPECT_EQ(h.bucket_limit, (std::vector<double>{0.5, 1.0, 2.0}));
  EXPECT_EQ(h.bucket, (std::vector<double>{3, 0, 7}));
  EXPECT_EQ(h.min, 0.1);
  EXPECT_EQ(h.max, 1.9);
  EXPECT_EQ(h.num, 10);
  EXPECT_EQ(h.sum, 12.5);
  EXPECT_EQ(h.sum_squares, 20.25);
  EXPECT_FALSE(decode_scalar_event(recs[1]).has_value());
}

TEST(TfEvents, CorruptionAndTruncationAreDetected) {
  TempDir dir;
  std::string path;
  {
    TfEventsWriter w(dir.path());
    path = w.path();
    w.add_scalar("x", 1.0f, 1);
  }
  const std::string good = read_file(path);
  const size_t first_len = 16 + le(good, 0, 8);
  auto check = [&](std::string bad, std::initializer_list<std::string> needles) {
    write_file_atomic(path, bad);
    expect_error<std::runtime_error>([&] { read_tfrecords(path); }, needles);
  };
  std::string b = good;
  b[first_len + 20] ^= 0x04;  // a payload byte of the second record
  check(b, {path, "data checksum mismatch", "byte " + std::to_string(first_len)});
  b = good;
  b[first_len + 1] ^= 0x01;  // its length field
  check(b, {path, "length checksum mismatch"});
  b = good;
  b[good.size() - 1] ^= 0x80;  // its data CRC
  check(b, {"data checksum mismatch"});
  check(good.substr(0, good.size() - 2), {"truncated data"});
  check(good.substr(0, first_len + 5), {"truncated length header"});
  write_file_atomic(path, good);
  EXPECT_EQ(read_tfrecords(path).size(), 2u);
}

TEST(TfEvents, TwoWritersInOneDirectoryDoNotClobber) {
  TempDir dir;
  TfEventsWriter a(dir.path()), b(dir.path());
  EXPECT_NE(a.path(), b.path());
}

TEST(ProtoWire, ReaderRejectsMalformedInput) {
  ProtoWriter w;
  w.add_bytes(1, "hello");
  std::string msg = w.bytes();
  ProtoReader ok(msg);
  ProtoField f;
  ASSERT_TRUE(ok.next(&f));
  EXPECT_EQ(f.as_bytes(), "hello");
  EXPECT_FALSE(ok.next(&f));
  expect_error<std::runtime_error>([&] { decode_event(msg.substr(0, 4)); }, {"malformed protobuf", "truncated"});
  expect_error<std::runtime_error>([&] { decode_event(std::string("\x0b", 1)); }, {"unsupported wire type 3"});
  expect_error<std::runtime_error>([&] { decode_event(std::string("\x08\x80", 2)); }, {"varint"});
}
