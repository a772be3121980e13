// proto_wire.cpp: hand-written protobuf wire encoding/decoding (see proto_wire.h).
#include "io/proto_wire.h"

#include <cstring>
#include <stdexcept>

namespace moescope {
namespace {

[[noreturn]] void malformed(const std::string& what) { throw std::runtime_error("malformed protobuf: " + what); }

uint64_t double_bits(double v) {
  uint64_t b;
  std::memcpy(&b, &v, 8);
  return b;
}

}  // namespace

void ProtoWriter::raw_varint(uint64_t v) {
  while (v >= 0x80) {
    buf_ += char((v & 0x7F) | 0x80);
    v >>= 7;
  }
  buf_ += char(v);
}

void ProtoWriter::raw_fixed(uint64_t v, int n_bytes) {
  for (int i = 0; i < n_bytes; ++i) buf_ += char(v >> (8 * i) & 0xFF);
}

void ProtoWriter::key(int field, WireType t) { raw_varint(uint64_t(field) << 3 | uint64_t(t)); }

void ProtoWriter::add_varint(int field, uint64_t v) {
  key(field, WireType::kVarint);
  raw_varint(v);
}

void ProtoWriter::add_double(int field, double v) {
  key(field, WireType::kFixed64);
  raw_fixed(double_bits(v), 8);
}

void ProtoWriter::add_float(int field, float v) {
  uint32_t b;
  std::memcpy(&b, &v, 4);
  key(field, WireType::kFixed32);
  raw_fixed(b, 4);
}

void ProtoWriter::add_bytes(int field, std::string_view v) {
  key(field, WireType::kBytes);
  raw_varint(v.size());
  buf_.append(v.data(), v.size());
}

void ProtoWriter::add_packed_doubles(int field, const std::vector<double>& v) {
  key(field, WireType::kBytes);
  raw_varint(v.size() * 8);
  for (double d : v) raw_fixed(double_bits(d), 8);
}

uint64_t ProtoReader::read_varint() {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (pos_ >= data_.size()) malformed("varint runs past the end of the message");
    uint8_t b = uint8_t(data_[pos_++]);
    v |= uint64_t(b & 0x7F) << shift;
    if (!(b & 0x80)) return v;
  }
  malformed("varint longer than 10 bytes");
}

bool ProtoReader::next(ProtoField* f) {
  if (pos_ >= data_.size()) return false;
  uint64_t k = read_varint();
  f->number = int(k >> 3);
  if (f->number <= 0) malformed("field number 0");
  f->data = {};
  f->value = 0;
  switch (k & 7) {
    case 0:
      f->type = WireType::kVarint;
      f->value = read_varint();
      return true;
    case 1:
    case 5: {
      const size_t n = (k & 7) == 1 ? 8 : 4;
      f->type = n == 8 ? WireType::kFixed64 : WireType::kFixed32;
      if (data_.size() - pos_ < n) malformed("fixed-width field " + std::to_string(f->number) + " truncated");
      for (size_t i = 0; i < n; ++i) f->value |= uint64_t(uint8_t(data_[pos_ + i])) << (8 * i);
      pos_ += n;
      return true;
    }
    case 2: {
      f->type = WireType::kBytes;
      uint64_t len = read_varint();
      if (len > data_.size() - pos_) malformed("length-delimited field " + std::to_string(f->number) + " truncated");
      f->data = data_.substr(pos_, size_t(len));
      pos_ += size_t(len);
      return true;
    }
    default: malformed("unsupported wire type " + std::to_string(k & 7) + " for field " + std::to_string(f->number));
  }
}

double ProtoField::as_double() const {
  if (type != WireType::kFixed64) malformed("field " + std::to_string(number) + " is not a double");
  double d;
  std::memcpy(&d, &value, 8);
  return d;
}

float ProtoField::as_float() const {
  if (type != WireType::kFixed32) malformed("field " + std::to_string(number) + " is not a float");
  uint32_t b = uint32_t(value);
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

int64_t ProtoField::as_int64() const {
  if (type != WireType::kVarint) malformed("field " + std::to_string(number) + " is not a varint");
  return static_cast<int64_t>(value);
}

std::string_view ProtoField::as_bytes() const {
  if (type != WireType::kBytes) malformed("field " + std::to_string(number) + " is not length-delimited");
  return data;
}

std::vector<double> ProtoField::as_packed_doubles() const {
  if (type == WireType::kFixed64) return {as_double()};  // an unpacked element
  std::string_view d = as_bytes();
  if (d.size() % 8) malformed("packed doubles in field " + std::to_string(number) + " not a multiple of 8 bytes");
  std::vector<double> out(d.size() / 8);
  for (size_t i = 0; i < out.size(); ++i) {
    uint64_t b = 0;
    for (int j = 0; j < 8; ++j) b |= uint64_t(uint8_t(d[i * 8 + j])) << (8 * j);
    std::memcpy(&out[i], &b, 8);
  }
  return out;
}

}  // namespace moescope
