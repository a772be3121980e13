// tensor_io.cpp: see tensor_io.h.
#include "model/tensor_io.h"

#include <cstring>
#include <set>
#include <stdexcept>

namespace moescope {
namespace {
std::string dtype_name(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return "F32";
    case at::kDouble: return "F64";
    case at::kBFloat16: return "BF16";
    case at::kHalf: return "F16";
    case at::kLong: return "I64";
    case at::kInt: return "I32";
    case at::kByte: return "U8";
    case at::kBool: return "BOOL";
    default: throw std::invalid_argument(std::string("tensor dtype ") + c10::toString(t) + " cannot be saved");
  }
}
at::ScalarType scalar_type(const std::string& d, const std::string& name) {
  if (d == "F32") return at::kFloat;
  if (d == "F64") return at::kDouble;
  if (d == "BF16") return at::kBFloat16;
  if (d == "F16") return at::kHalf;
  if (d == "I64") return at::kLong;
  if (d == "I32") return at::kInt;
  if (d == "U8") return at::kByte;
  if (d == "BOOL") return at::kBool;
  throw std::invalid_argument("tensor '" + name + "': dtype " + d + " is not supported by moescope");
}
}  // namespace

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

TensorRecord to_record(const std::string& name, const at::Tensor& t) {
  TensorRecord r;
  r.name = name;
  auto c = t.detach().to(torch::kCPU).contiguous();
  r.dtype = dtype_name(c.scalar_type());
  r.shape = c.sizes().vec();
  r.bytes.assign(static_cast<const char*>(c.data_ptr()), static_cast<size_t>(c.numel() * c.element_size()));
  return r;
}

at::Tensor from_record(const TensorRecord& r) {
  auto t = torch::empty(r.shape, torch::TensorOptions().dtype(scalar_type(r.dtype, r.name)));
  TORCH_CHECK(static_cast<size_t>(t.numel() * t.element_size()) == r.bytes.size(), "tensor '", r.name,
              "': byte size does not match its shape");
  if (!r.bytes.empty()) std::memcpy(t.data_ptr(), r.bytes.data(), r.bytes.size());
  return t;
}

std::vector<TensorRecord> model_records(torch::nn::Module& m) {
  std::vector<TensorRecord> out;
  for (auto& p : m.named_parameters()) out.push_back(to_record(hf_name(p.key()), p.value()));
  for (auto& b : m.named_buffers()) out.push_back(to_record(hf_name(b.key()), b.value()));
  return out;
}

void save_model_weights(torch::nn::Module& m, const std::string& path,
                        const std::map<std::string, std::string>& metadata) {
  auto meta = metadata;
  meta["format"] = "pt";  // what Hugging Face loaders look for
  save_safetensors(path, model_records(m), meta);
}

void load_model_weights(torch::nn::Module& m, const SafetensorsFile& f, const std::set<std::string>& skip,
                        const std::function<bool(const std::string&)>& extra_ok) {
  std::set<std::string> expected;
  torch::NoGradGuard ng;
  auto load_one = [&](const std::string& key, at::Tensor& dst) {
    const std::string name = hf_name(key);
    if (skip.count(name)) return;
    expected.insert(name);
    if (!f.has(name)) throw std::runtime_error(f.where + ": missing tensor '" + name + "'");
    const TensorRecord& rec = f.at(name);
    // The dtype as stored must be the model's: bytes of another type with the same size (an
    // F32 weight relabelled I32) would pass every checksum and load as garbage.
    if (rec.dtype != dtype_name(dst.scalar_type()))
      throw std::runtime_error(f.where + ": tensor '" + name + "' is stored as " + rec.dtype + ", the model expects " +
                               dtype_name(dst.scalar_type()));
    auto src = from_record(rec);
    if (src.sizes() != dst.sizes()) {
      std::ostringstream o;
      o << f.where << ": tensor '" << name << "' has shape " << src.sizes() << ", the model expects " << dst.sizes();
      throw std::runtime_error(o.str());
    }
    if (src.is_floating_point() && !torch::isfinite(src).all().item<bool>())
      throw std::runtime_error(f.where + ": tensor '" + name + "' holds NaN or Inf values");
    dst.copy_(src);
  };
  for (auto& p : m.named_parameters()) load_one(p.key(), p.value());
  for (auto& b : m.named_buffers()) load_one(b.key(), b.value());
  for (auto& t : f.tensors)
    if (!expected.count(t.name) && !(extra_ok && extra_ok(t.name)))
      throw std::runtime_error(f.where + ": unexpected tensor '" + t.name + "' (config mismatch?)");
}

}  // namespace moescope
