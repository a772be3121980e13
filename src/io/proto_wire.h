// proto_wire.h: the few pieces of the protobuf wire format that TensorBoard event files need,
// written by hand (no protobuf dependency).
//
// A message is a sequence of fields, each a varint key (field_number << 3 | wire_type) and a
// payload: varint (0), 8 little-endian bytes (1), varint length + bytes (2), 4 LE bytes (5).
// int64 values are varints of their two's complement (10 bytes when negative); doubles and
// floats are their IEEE bits in fixed64/fixed32; packed repeated doubles are one
// length-delimited field holding the concatenated fixed64 values.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace moescope {

enum class WireType : uint8_t { kVarint = 0, kFixed64 = 1, kBytes = 2, kFixed32 = 5 };

class ProtoWriter {
 public:
  void add_varint(int field, uint64_t v);
  void add_int64(int field, int64_t v) { add_varint(field, static_cast<uint64_t>(v)); }
  void add_double(int field, double v);
  void add_float(int field, float v);
  void add_bytes(int field, std::string_view v);  // strings and embedded messages
  void add_packed_doubles(int field, const std::vector<double>& v);
  const std::string& bytes() const { return buf_; }

 private:
  void key(int field, WireType t);
  void raw_varint(uint64_t v);
  void raw_fixed(uint64_t v, int n_bytes);
  std::string buf_;
};

struct ProtoField {
  int number = 0;
  WireType type = WireType::kVarint;
  uint64_t value = 0;     // varint value, or the raw bits of a fixed64/fixed32
  std::string_view data;  // payload of a length-delimited field

  double as_double() const;  // fixed64 field -> double (throws std::runtime_error otherwise)
  float as_float() const;    // fixed32 field -> float
  int64_t as_int64() const;  // varint field -> int64
  std::string_view as_bytes() const;
  std::vector<double> as_packed_doubles() const;  // length-delimited run of fixed64 doubles
};

// Iterates the fields of one message. next() returns false at the end and throws
// std::runtime_error ("malformed protobuf: ...") on truncated or invalid input.
class ProtoReader {
 public:
  explicit ProtoReader(std::string_view data) : data_(data) {}
  bool next(ProtoField* f);

 private:
  uint64_t read_varint();
  std::string_view data_;
  size_t pos_ = 0;
};

}  // namespace moescope
