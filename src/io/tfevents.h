// tfevents.h: a minimal TensorBoard event-file writer (scalars and histograms), and a reader
// for tests and tools.
//
// File: logdir/events.out.tfevents.<unix_seconds>.<hostname> (".<n>" appended if taken), a
// sequence of TFRecords:
//   u64 LE length | u32 LE masked_crc32c(the 8 length bytes) | data | u32 LE masked_crc32c(data)
// Each record's data is a protobuf-encoded tensorflow.Event (encoded by hand, proto_wire.h):
//   Event          { double wall_time = 1; int64 step = 2; string file_version = 3;
//                    Summary summary = 5; }
//   Summary        { repeated Value value = 1; }
//   Value          { string tag = 1; float simple_value = 2; HistogramProto histo = 5; }
//   HistogramProto { double min = 1; double max = 2; double num = 3; double sum = 4;
//                    double sum_squares = 5; repeated double bucket_limit = 6 [packed];
//                    repeated double bucket = 7 [packed]; }
// The first record is an Event with file_version "brain.Event:2".
// Histogram buckets follow TensorBoard: bucket i counts values in (bucket_limit[i-1],
// bucket_limit[i]]; the first bucket is bounded below by min.
#pragma once
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

namespace moescope {

class TfEventsWriter {
 public:
  // Creates logdir (and parents) and the event file. Throws std::runtime_error naming it.
  explicit TfEventsWriter(const std::string& logdir);
  ~TfEventsWriter();  // flushes and closes
  TfEventsWriter(const TfEventsWriter&) = delete;
  TfEventsWriter& operator=(const TfEventsWriter&) = delete;

  void add_scalar(const std::string& tag, float value, int64_t step);
  // Throws std::invalid_argument when bucket_limits and bucket_counts differ in length.
  void add_histogram(const std::string& tag, const std::vector<double>& bucket_limits,
                     const std::vector<double>& bucket_counts, double min, double max, double num, double sum,
                     double sum_sq, int64_t step);
  // Records are buffered and flushed at least every 2 seconds of writing, on flush() and
  // on destruction.
  void flush();
  std::string path() const { return path_; }

 private:
  void write_event(const std::string& event);
  std::string path_;
  std::FILE* file_ = nullptr;
  double last_flush_ = 0;
};

// One framed record (length, masked CRCs) around `data`.
std::string frame_tfrecord(const std::string& data);

// All record payloads of a TFRecord file, verifying both CRCs of every record. Throws
// std::runtime_error naming the file and byte offset on truncation or a checksum mismatch.
std::vector<std::string> read_tfrecords(const std::string& path);

struct DecodedHistogram {
  double min = 0, max = 0, num = 0, sum = 0, sum_squares = 0;
  std::vector<double> bucket_limit, bucket;
};

struct DecodedValue {
  std::string tag;
  std::optional<float> simple_value;
  std::optional<DecodedHistogram> histo;
};

struct DecodedEvent {
  double wall_time = 0;
  int64_t step = 0;
  std::string file_version;
  std::vector<DecodedValue> values;  // from the summary
};

// Decodes an Event record (unknown fields are skipped). Throws std::runtime_error on
// malformed protobuf.
DecodedEvent decode_event(const std::string& record);

struct DecodedScalar {
  double wall_time;
  int64_t step;
  std::string tag;
  float value;
};

// The first scalar value of an Event, or nullopt when it carries none (e.g. file_version).
std::optional<DecodedScalar> decode_scalar_event(const std::string& record);

}  // namespace moescope
