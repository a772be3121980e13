// tfevents.cpp: TensorBoard event-file writing and reading (see tfevents.h).
#include "io/tfevents.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <system_error>

#include <unistd.h>

#include "io/atomic_file.h"
#include "io/crc32c.h"
#include "io/proto_wire.h"

namespace moescope {
namespace {

double now_seconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

std::string hostname() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
  std::string h = buf;
  for (char& c : h)
    if (c == '/') c = '_';
  return h;
}

void put_le32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out += char(v >> (8 * i) & 0xFF);
}

uint64_t get_le(const char* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = v << 8 | uint8_t(p[i]);
  return v;
}

std::string summary_event(int64_t step, const std::string& value_msg) {
  ProtoWriter summary;
  summary.add_bytes(1, value_msg);
  ProtoWriter event;
  event.add_double(1, now_seconds());
  event.add_int64(2, step);
  event.add_bytes(5, summary.bytes());
  return event.bytes();
}

DecodedHistogram decode_histogram(std::string_view msg) {
  DecodedHistogram h;
  ProtoReader r(msg);
  ProtoField f;
  while (r.next(&f)) {
    switch (f.number) {
      case 1: h.min = f.as_double(); break;
      case 2: h.max = f.as_double(); break;
      case 3: h.num = f.as_double(); break;
      case 4: h.sum = f.as_double(); break;
      case 5: h.sum_squares = f.as_double(); break;
      case 6:
        for (double d : f.as_packed_doubles()) h.bucket_limit.push_back(d);
        break;
      case 7:
        for (double d : f.as_packed_doubles()) h.bucket.push_back(d);
        break;
      default: break;
    }
  }
  return h;
}

DecodedValue decode_value(std::string_view msg) {
  DecodedValue v;
  ProtoReader r(msg);
  ProtoField f;
  while (r.next(&f)) {
    if (f.number == 1) v.tag = std::string(f.as_bytes());
    else if (f.number == 2) v.simple_value = f.as_float();
    else if (f.number == 5) v.histo = decode_histogram(f.as_bytes());
  }
  return v;
}

}  // namespace

std::string frame_tfrecord(const std::string& data) {
  std::string out;
  out.reserve(data.size() + 16);
  for (int i = 0; i < 8; ++i) out += char(uint64_t(data.size()) >> (8 * i) & 0xFF);
  put_le32(out, masked_crc32c(out.data(), 8));
  out += data;
  put_le32(out, masked_crc32c(data.data(), data.size()));
  return out;
}

TfEventsWriter::TfEventsWriter(const std::string& logdir) {
  std::error_code ec;
  std::filesystem::create_directories(logdir, ec);
  if (ec) throw std::runtime_error("tfevents: cannot create log directory '" + logdir + "': " + ec.message());
  const std::string base = (std::filesystem::path(logdir) /
                            ("events.out.tfevents." + std::to_string(int64_t(now_seconds())) + "." + hostname()))
                               .string();
  for (int n = 0; n < 1000 && !file_; ++n) {
    path_ = n == 0 ? base : base + "." + std::to_string(n);
    file_ = std::fopen(path_.c_str(), "wbx");  // exclusive: never clobber another writer's file
    if (!file_ && errno != EEXIST)
      throw std::runtime_error("tfevents: cannot create '" + path_ + "': " + std::strerror(errno));
  }
  if (!file_) throw std::runtime_error("tfevents: no free event file name for '" + base + "'");
  ProtoWriter event;
  event.add_double(1, now_seconds());
  event.add_bytes(3, "brain.Event:2");
  write_event(event.bytes());
  flush();
}

TfEventsWriter::~TfEventsWriter() {
  if (file_) std::fclose(file_);
}

void TfEventsWriter::write_event(const std::string& event) {
  std::string rec = frame_tfrecord(event);
  if (std::fwrite(rec.data(), 1, rec.size(), file_) != rec.size())
    throw std::runtime_error("tfevents: write to '" + path_ + "' failed: " + std::strerror(errno));
  if (now_seconds() - last_flush_ >= 2.0) flush();
}

void TfEventsWriter::flush() {
  if (std::fflush(file_) != 0)
    throw std::runtime_error("tfevents: flushing '" + path_ + "' failed: " + std::strerror(errno));
  last_flush_ = now_seconds();
}

void TfEventsWriter::add_scalar(const std::string& tag, float value, int64_t step) {
  ProtoWriter v;
  v.add_bytes(1, tag);
  v.add_float(2, value);
  write_event(summary_event(step, v.bytes()));
}

void TfEventsWriter::add_histogram(const std::string& tag, const std::vector<double>& bucket_limits,
                                   const std::vector<double>& bucket_counts, double min, double max, double num,
                                   double sum, double sum_sq, int64_t step) {
  if (bucket_limits.size() != bucket_counts.size())
    throw std::invalid_argument("tfevents histogram '" + tag + "': " + std::to_string(bucket_limits.size()) +
                                " bucket limits but " + std::to_string(bucket_counts.size()) + " counts");
  ProtoWriter h;
  h.add_double(1, min);
  h.add_double(2, max);
  h.add_double(3, num);
  h.add_double(4, sum);
  h.add_double(5, sum_sq);
  h.add_packed_doubles(6, bucket_limits);
  h.add_packed_doubles(7, bucket_counts);
  ProtoWriter v;
  v.add_bytes(1, tag);
  v.add_bytes(5, h.bytes());
  write_event(summary_event(step, v.bytes()));
}

std::vector<std::string> read_tfrecords(const std::string& path) {
  const std::string data = read_file(path);
  std::vector<std::string> records;
  size_t pos = 0;
  auto fail = [&](const std::string& what) {
    return std::runtime_error("tfrecord file '" + path + "': " + what + " in the record at byte " +
                              std::to_string(pos));
  };
  while (pos < data.size()) {
    if (data.size() - pos < 12) throw fail("truncated length header");
    const uint64_t len = get_le(data.data() + pos, 8);
    if (uint32_t(get_le(data.data() + pos + 8, 4)) != masked_crc32c(data.data() + pos, 8))
      throw fail("length checksum mismatch");
    if (len > data.size() - pos - 12 || data.size() - pos - 12 - len < 4) throw fail("truncated data");
    const char* body = data.data() + pos + 12;
    if (uint32_t(get_le(body + len, 4)) != masked_crc32c(body, size_t(len))) throw fail("data checksum mismatch");
    records.emplace_back(body, size_t(len));
    pos += 12 + size_t(len) + 4;
  }
  return records;
}

DecodedEvent decode_event(const std::string& record) {
  DecodedEvent e;
  ProtoReader r(record);
  ProtoField f;
  while (r.next(&f)) {
    if (f.number == 1) e.wall_time = f.as_double();
    else if (f.number == 2) e.step = f.as_int64();
    else if (f.number == 3) e.file_version = std::string(f.as_bytes());
    else if (f.number == 5) {
      ProtoReader s(f.as_bytes());
      ProtoField sv;
      while (s.next(&sv))
        if (sv.number == 1) e.values.push_back(decode_value(sv.as_bytes()));
    }
  }
  return e;
}

std::optional<DecodedScalar> decode_scalar_event(const std::string& record) {
  DecodedEvent e = decode_event(record);
  for (const DecodedValue& v : e.values)
    if (v.simple_value) return DecodedScalar{e.wall_time, e.step, v.tag, *v.simple_value};
  return std::nullopt;
}

}  // namespace moescope
