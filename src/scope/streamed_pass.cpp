// streamed_pass.cpp: see streamed_pass.h.
#include "scope/streamed_pass.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include "core/mapped_pages.h"
#include "ops/attention_core.h"

namespace moescope {
namespace {

// The hidden states of every chunk: tensors in memory, or one file with a fixed slot per chunk.
class HiddenStates {
 public:
  HiddenStates(size_t n, std::string path) : path_(std::move(path)), mem_(n), slots_(n) {
    if (path_.empty()) return;
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd_ < 0) throw std::runtime_error("cannot create the hidden-state file " + path_);
  }
  ~HiddenStates() {
    if (fd_ >= 0) {
      ::close(fd_);
      std::error_code ec;
      std::filesystem::remove(path_, ec);
    }
  }
  HiddenStates(const HiddenStates&) = delete;
  HiddenStates& operator=(const HiddenStates&) = delete;

  void put(size_t k, const at::Tensor& h) {
    if (fd_ < 0) {
      mem_[k] = h;
      return;
    }
    auto c = h.to(torch::kCPU).contiguous();
    Slot& s = slots_[k];
    if (!s.bytes) {  // first write: the next free slot
      s = {end_, c.nbytes(), c.sizes().vec(), c.scalar_type(), h.device()};
      end_ += s.bytes;
    }
    if (c.nbytes() != s.bytes) throw std::logic_error("hidden states: chunk changed size");
    io(true, c.data_ptr(), s);
  }
  at::Tensor get(size_t k) const {
    if (fd_ < 0) return mem_[k];
    const Slot& s = slots_[k];
    auto t = torch::empty(s.shape, torch::TensorOptions().dtype(s.dtype));
    io(false, t.data_ptr(), s);
    return t.to(s.device);
  }
  void drop(size_t k) { mem_[k] = at::Tensor(); }
  uint64_t file_bytes() const { return end_; }

 private:
  struct Slot {
    uint64_t offset = 0, bytes = 0;
    std::vector<int64_t> shape;
    at::ScalarType dtype = at::kFloat;
    torch::Device device = torch::kCPU;
  };
  void io(bool write, void* data, const Slot& s) const {
    auto* p = static_cast<char*>(data);
    for (uint64_t done = 0; done < s.bytes;) {
      const ssize_t n = write ? ::pwrite(fd_, p + done, s.bytes - done, static_cast<off_t>(s.offset + done))
                              : ::pread(fd_, p + done, s.bytes - done, static_cast<off_t>(s.offset + done));
      if (n <= 0)
        throw std::runtime_error(std::string("hidden-state file ") + path_ + ": " + (write ? "write" : "read") +
                                 " failed");
      done += static_cast<uint64_t>(n);
    }
  }
  std::string path_;
  int fd_ = -1;
  std::vector<at::Tensor> mem_;
  std::vector<Slot> slots_;
  uint64_t end_ = 0;
};

std::vector<std::pair<const void*, size_t>> ranges_of(const std::vector<at::Tensor>& ts) {
  std::vector<std::pair<const void*, size_t>> r;
  for (const auto& t : ts)
    if (t.defined() && t.device().is_cpu() && t.is_contiguous()) r.push_back({t.data_ptr(), t.nbytes()});
  return r;
}

std::vector<at::Tensor> tensors_of(const torch::nn::Module& m) {
  auto ts = m.parameters();
  for (auto& b : m.buffers()) ts.push_back(b);
  return ts;
}

// The summed next-token loss and the number of targets (ignore_index -100) of one chunk.
void add_loss(const at::Tensor& logits_BSV, const at::Tensor& target_T, ChunkOutcome& out) {
  const int64_t T = target_T.numel();
  auto logits = logits_BSV.reshape({T, -1}).to(torch::kFloat);
  auto target = target_T.to(logits.device());
  out.loss_sum =
      torch::nn::functional::cross_entropy(
          logits, target, torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100).reduction(torch::kSum))
          .item<double>();
  out.targets = (target != -100).sum().item<int64_t>();
}

// What Transformer::forward does after the blocks, then the chunk's loss.
void head_loss(TransformerImpl& model, const at::Tensor& h_BSD, const at::Tensor& target_T, ChunkOutcome& out) {
  auto h = model.norm(h_BSD);
  const auto& w = model.lm_head.is_empty() ? model.embed_tokens->weight : model.lm_head->weight;
  add_loss(torch::matmul(h, cast_to(w, h.scalar_type()).t()), target_T, out);
}

RoutingObservation kept_observation(MoELayerImpl& m) {
  auto o = observe_routing(m.last(), m.gate->cfg().score_func);
  if (o.expert_TK.defined()) o.expert_TK = o.expert_TK.to(torch::kInt).contiguous();
  return o;
}

}  // namespace

ChunkOutcome forward_chunk(Transformer& model, const ChunkInput& in) {
  torch::NoGradGuard ng;
  const auto device = model->parameters().front().device();
  ChunkOutcome out;
  add_loss(model->forward(in.tokens_BS.to(device)).logits_BSV, in.target_T, out);
  for (auto* m : model->moe_layers()) out.routing.push_back(kept_observation(*m));
  return out;
}

std::vector<ChunkOutcome> streamed_pass(Transformer& model, const std::vector<ChunkInput>& chunks,
                                        const std::string& spill_path, const std::function<void(int64_t)>& progress,
                                        StreamedPassStats* stats) {
  torch::NoGradGuard ng;
  auto& M = *model;
  const auto device = M.parameters().front().device();
  const size_t n = chunks.size();
  std::vector<ChunkOutcome> out(n);
  HiddenStates hs(n, spill_path);
  StreamedPassStats st;
  int64_t units = 0;
  auto tick = [&] {
    if (progress) progress(++units);
  };
  for (size_t k = 0; k < n; ++k) {
    hs.put(k, cast_to(M.embed_tokens(chunks[k].tokens_BS.to(device)), M.compute_dtype));
    tick();
  }
  st.released_bytes += release_file_pages(ranges_of(tensors_of(*M.embed_tokens)));
  for (size_t l = 0; l < M.layers->size(); ++l) {
    auto* blk = M.layers[l]->as<BlockImpl>();
    for (size_t k = 0; k < n; ++k) {
      auto h = blk->forward(hs.get(k), 0, nullptr);
      if (blk->is_moe()) out[k].routing.push_back(kept_observation(*blk->moe));
      hs.put(k, h);
      tick();
    }
    st.released_bytes += release_file_pages(ranges_of(tensors_of(*blk)));
    trim_free_heap();
  }
  for (size_t k = 0; k < n; ++k) {
    head_loss(M, hs.get(k), chunks[k].target_T, out[k]);
    hs.drop(k);
    tick();
  }
  std::vector<at::Tensor> head = tensors_of(*M.norm);
  if (!M.lm_head.is_empty()) head.push_back(M.lm_head->weight);
  head.push_back(M.embed_tokens->weight);
  st.released_bytes += release_file_pages(ranges_of(head));
  st.spilled_bytes = hs.file_bytes();
  if (stats) *stats = st;
  return out;
}

ModelBytes measure_model_bytes(Transformer& model) {
  auto& M = *model;
  const auto maps = current_file_mappings();
  const auto c = c10::elementSize(M.compute_dtype);
  ModelBytes b;
  struct Part {
    uint64_t file = 0, casts = 0;
  };
  auto measure = [&](const std::vector<at::Tensor>& ts) {
    Part p;
    for (const auto& t : ts) {
      const uint64_t bytes = t.nbytes();
      b.total += bytes;
      if (t.device().is_cpu() && inside_file_mapping(maps, t.data_ptr(), bytes)) p.file += bytes;
      else b.pinned += bytes;
      if (t.is_floating_point() && t.scalar_type() != M.compute_dtype) p.casts += static_cast<uint64_t>(t.numel()) * c;
    }
    return p;
  };
  std::vector<at::Tensor> outside = tensors_of(*M.embed_tokens);
  for (auto& t : tensors_of(*M.norm)) outside.push_back(t);
  if (!M.lm_head.is_empty()) outside.push_back(M.lm_head->weight);
  const Part head = measure(outside);
  b.largest_part = head.file;
  const auto& w = M.lm_head.is_empty() ? M.embed_tokens->weight : M.lm_head->weight;
  b.head_casts = w.scalar_type() != M.compute_dtype ? static_cast<uint64_t>(w.numel()) * c : 0;
  for (auto& m : *M.layers) {
    const Part p = measure(tensors_of(*m));
    b.largest_part = std::max(b.largest_part, p.file);
    b.layer_casts = std::max(b.layer_casts, p.casts);
  }
  return b;
}

}  // namespace moescope
