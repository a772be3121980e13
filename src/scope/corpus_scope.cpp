// corpus_scope.cpp: see corpus_scope.h. Metric definitions: docs/metrics.md.
#include "scope/corpus_scope.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sstream>
#include <stdexcept>

#include "core/host_memory.h"
#include "io/atomic_file.h"
#include "io/jsonl.h"
#include "run/log_fields.h"
#include "run/routing_profile_fields.h"
#include "run/run_dir.h"
#include "scope/microscope.h"
#include "model/resource_estimate.h"
#include "routing/routing_profile.h"
#include "scope/scope_memory.h"
#include "scope/streamed_pass.h"

namespace moescope {
namespace f = log_field;
namespace fs = std::filesystem;
namespace {

void check_options(const CorpusScopeOptions& o, const Transformer& model, const std::vector<CorpusTokens>& corpora) {
  auto positive = [](int64_t v, const char* name) {
    if (v < 1) throw std::invalid_argument(std::string(name) + " must be at least 1 (got " + std::to_string(v) + ")");
  };
  positive(o.batch, "--batch");
  positive(o.seq_len, "--seq-len");
  positive(o.log_every, "--log-every");
  positive(o.coact_every, "--coact-every");
  if (o.top_tokens < 0) throw std::invalid_argument("--top-tokens must be at least 0");
  if (o.seq_len > model->cfg().max_seq_len)
    throw std::invalid_argument("--seq-len " + std::to_string(o.seq_len) + " is longer than the model's max_seq_len " +
                                std::to_string(model->cfg().max_seq_len));
  if (corpora.empty()) throw std::invalid_argument("no corpus (--data FILE)");
  for (const auto& c : corpora)
    if (c.size < 1) throw std::invalid_argument("corpus " + c.name + " has no tokens");
}

// The chunks of one corpus: (first token, rows, row length).
struct Chunk {
  int64_t begin, rows, len;
};
std::vector<Chunk> chunks_of(int64_t n, int64_t B, int64_t S) {
  std::vector<Chunk> out;
  const int64_t full = n / S;
  for (int64_t r = 0; r < full; r += B) out.push_back({r * S, std::min(B, full - r), S});
  if (n % S) out.push_back({full * S, 1, n % S});
  return out;
}

// One chunk's tokens and next-token targets (-100 past the corpus's end); ids checked against V.
ChunkInput chunk_input(const CorpusTokens& corpus, const Chunk& ch, int64_t V) {
  const int64_t T = ch.rows * ch.len;
  std::vector<int64_t> tok(T), tgt(T);
  for (int64_t i = 0; i < T; ++i) {
    tok[i] = corpus.token(ch.begin + i);
    if (tok[i] < 0 || tok[i] >= V)
      throw std::invalid_argument("corpus " + corpus.name + ": token id " + std::to_string(tok[i]) + " at " +
                                  std::to_string(ch.begin + i) + " is outside the model's vocabulary of " +
                                  std::to_string(V));
    tgt[i] = ch.begin + i + 1 < corpus.size ? corpus.token(ch.begin + i + 1) : -100;
  }
  return {torch::tensor(tok, torch::kLong).view({ch.rows, ch.len}), torch::tensor(tgt, torch::kLong)};
}

// The memory plan for a budget: the model's bytes as loaded, one chunk's working set (one layer's
// activations, model/resource_estimate.h's inference terms, plus the dtype casts of the largest
// block's weights; or the logits and the head's cast), the hidden states, the kept routing.
ScopeMemoryPlan memory_plan(Transformer& model, const CorpusScopeOptions& o, int64_t total_tokens) {
  const auto& cfg = model->cfg();
  const ModelBytes mb = measure_model_bytes(model);
  const double c = static_cast<double>(c10::elementSize(model->compute_dtype));
  TrainConfig t;
  t.batch_size = o.batch;
  t.seq_len = o.seq_len;
  t.dtype = c == 2 ? DType::kBf16 : DType::kFp32;
  const double T = static_cast<double>(o.batch * o.seq_len), V = static_cast<double>(cfg.vocab_size);
  const double head_act = T * V * (c + 8);
  const double layers_act = std::max(0.0, estimate_resources(cfg, t).activations.bytes - head_act);
  const double layer_ws = layers_act / static_cast<double>(cfg.n_layers) + static_cast<double>(mb.layer_casts);
  const double head_ws = head_act + static_cast<double>(mb.head_casts);
  int64_t kept_per_token = 0;
  for (auto* m : model->moe_layers()) kept_per_token += m->cfg().top_k * 4;
  ScopeMemoryInput in;
  in.budget = o.max_memory;
  in.weights_total = mb.total;
  in.weights_pinned = mb.pinned;
  in.largest_part = mb.largest_part;
  in.working_set = static_cast<uint64_t>(std::max(layer_ws, head_ws));
  in.chunk_hidden = static_cast<uint64_t>(T * static_cast<double>(cfg.d_model) * c);
  in.hidden_total = static_cast<uint64_t>(total_tokens) * static_cast<uint64_t>(cfg.d_model) * static_cast<uint64_t>(c);
  in.routing_total = static_cast<uint64_t>(total_tokens * kept_per_token);
  return plan_scope_memory(in);
}

}  // namespace

CorpusScopeResult run_corpus_scope(Transformer model, const std::vector<CorpusTokens>& corpora,
                                   const CorpusScopeOptions& opt, ScopeConfig scope, const std::string& run_dir,
                                   const std::string& model_name, const std::function<std::string(int64_t)>& decode,
                                   Progress& progress) {
  check_options(opt, model, corpora);
  auto moe = model->moe_layers();
  if (moe.empty()) throw std::invalid_argument("model " + model_name + " has no MoE layers: nothing to scope");
  if (fs::exists(metrics_path(run_dir)))
    throw std::invalid_argument("--out " + run_dir + " already holds a run (" + metrics_path(run_dir) +
                                "); choose a new directory");
  std::vector<std::vector<Chunk>> chunks;
  int64_t total_tokens = 0;
  for (const auto& c : corpora) {
    chunks.push_back(chunks_of(c.size, opt.batch, opt.seq_len));
    total_tokens += c.size;
  }
  CorpusScopeResult res;
  ScopeMemoryPlan plan;
  if (opt.max_memory > 0) {
    plan = memory_plan(model, opt, total_tokens);  // throws before anything is written
    res.memory_plan = plan.summary;
    progress.line("scope: " + plan.summary);
  }
  res.streamed = plan.streamed || opt.force_stream;
  fs::create_directories(run_dir);

  std::vector<ProfileLayer> players;
  for (size_t l = 0; l < model->layers->size(); ++l) {
    auto* blk = (*model->layers)[l]->as<BlockImpl>();
    if (blk->is_moe()) players.push_back({int64_t(l), blk->moe->cfg().n_routed, blk->moe->cfg().top_k});
  }
  std::vector<std::string> names;
  for (const auto& c : corpora) names.push_back(c.name);
  RoutingProfile profile(
      players, names,
      std::max(RoutingProfile::kMinTokenCounters, RoutingProfile::kTokenCountersPerTop * opt.top_tokens));

  scope.remediate = false;
  scope.tensorboard = false;
  scope.coact_every = opt.coact_every;
  ScopeContext ctx;
  ctx.model = model;
  ctx.run_dir = run_dir;
  ctx.log_every = opt.log_every;
  ctx.forward_only = true;
  std::ostringstream alerts;  // the detector's console lines, passed on through the progress
  Microscope micro(ctx, scope, alerts);
  JsonlWriter log(metrics_path(run_dir), /*append=*/false);

  const bool was_training = model->is_training();
  model->eval();
  torch::NoGradGuard no_grad;
  const int64_t V = model->cfg().vocab_size;

  // Streamed: every chunk of every corpus through the model layer by layer first; the records
  // below then replay the outcomes in the unstreamed order.
  std::vector<std::vector<ChunkOutcome>> streamed(corpora.size());
  if (res.streamed) {
    std::vector<ChunkInput> inputs;
    for (size_t c = 0; c < corpora.size(); ++c)
      for (const auto& ch : chunks[c]) inputs.push_back(chunk_input(corpora[c], ch, V));
    const int64_t units = static_cast<int64_t>(inputs.size()) * (static_cast<int64_t>(model->layers->size()) + 2);
    const std::string spill = plan.spill || opt.force_spill ? (fs::path(run_dir) / "hidden_states.tmp").string() : "";
    if (!spill.empty()) progress.line("scope: hidden states spilled to " + spill);
    StreamedPassStats st;
    // Progress in token-equivalents of the whole pass; a plain line after each stage (the
    // embedding, each layer, the head) with the peak RSS so far.
    const int64_t n = static_cast<int64_t>(inputs.size()), stages = units / n;
    auto on_unit = [&](int64_t u) {
      progress.update(total_tokens * u / units);
      if (u % n) return;
      const int64_t stage = u / n;
      const std::string what = stage == 1        ? "embedding"
                               : stage == stages ? "head"
                                                 : "layer " + std::to_string(stage - 2);
      progress.interval("scope: streamed " + what + " (" + std::to_string(stage) + "/" + std::to_string(stages) +
                        "), peak RSS " + format_bytes(static_cast<double>(process_status_bytes("VmHWM"))) + ": ");
    };
    auto all = streamed_pass(model, inputs, spill, on_unit, &st);
    res.spilled_bytes = st.spilled_bytes;
    res.released_bytes = st.released_bytes;
    size_t at = 0;
    for (size_t c = 0; c < corpora.size(); ++c)
      for (size_t k = 0; k < chunks[c].size(); ++k) streamed[c].push_back(std::move(all[at++]));
  }

  int64_t step = 0;
  const auto flush_alerts = [&] {
    std::istringstream in(alerts.str());
    for (std::string line; std::getline(in, line);) progress.line(line);
    alerts.str("");
  };
  for (size_t c = 0; c < corpora.size(); ++c) {
    const auto& corpus = corpora[c];
    micro.before_eval();
    double loss_sum = 0, iv_loss = 0;
    int64_t loss_n = 0, iv_loss_n = 0, iv_tokens = 0, iv_chunks = 0;
    double iv_start = progress.elapsed_s();
    for (size_t k = 0; k < chunks[c].size(); ++k) {
      const Chunk& ch = chunks[c][k];
      const int64_t T = ch.rows * ch.len;
      ChunkOutcome local;
      if (!res.streamed) local = forward_chunk(model, chunk_input(corpus, ch, V));
      const ChunkOutcome& out = res.streamed ? streamed[c][k] : local;
      loss_sum += out.loss_sum;
      loss_n += out.targets;
      iv_loss += out.loss_sum;
      iv_loss_n += out.targets;

      micro.observe(out.routing);
      micro.eval_observe(out.routing);
      std::vector<int64_t> tok(T);
      for (int64_t i = 0; i < T; ++i) tok[i] = corpus.token(ch.begin + i);
      std::vector<at::Tensor> ex;
      std::vector<const int64_t*> ptrs;
      for (const auto& r : out.routing) {
        ex.push_back(r.expert_TK.to(torch::kLong).contiguous());
        ptrs.push_back(ex.back().data_ptr<int64_t>());
      }
      profile.observe(c, tok.data(), T, ptrs);
      ++step;
      micro.after_step(step);
      res.tokens += T;
      iv_tokens += T;
      ++iv_chunks;
      if (res.streamed) streamed[c][k] = ChunkOutcome{};
      else progress.update(res.tokens);

      if (iv_chunks == opt.log_every || k + 1 == chunks[c].size()) {
        const double now = progress.elapsed_s();
        nlohmann::json rec{{f::kSchema, 1},
                           {f::kType, f::kTrain},
                           {f::kStep, step},
                           {"loss", iv_loss_n ? nlohmann::json(iv_loss / double(iv_loss_n)) : nlohmann::json()},
                           {"tokens_per_s", double(iv_tokens) / std::max(1e-9, now - iv_start)},
                           {"tokens", res.tokens},
                           {"corpus", corpus.name},
                           {"elapsed_s", now}};
        micro.on_log(step, rec);
        log.write(rec);
        flush_alerts();
        if (!res.streamed) progress.interval("scope: step " + std::to_string(step) + ", " + corpus.name + ": ");
        iv_loss = 0;
        iv_loss_n = iv_tokens = iv_chunks = 0;
        iv_start = now;
      }
    }
    const double mean = loss_n ? loss_sum / double(loss_n) : 0.0;
    nlohmann::json rec{{f::kSchema, 1},
                       {f::kType, f::kEval},
                       {f::kStep, step},
                       {"val_loss", loss_n ? nlohmann::json(mean) : nlohmann::json()},
                       {"val_ppl", loss_n ? nlohmann::json(std::exp(mean)) : nlohmann::json()},
                       {"val_tokens", loss_n},
                       {"corpus", corpus.name},
                       {"elapsed_s", progress.elapsed_s()}};
    micro.on_eval(step, rec);
    log.write(rec);
    res.loss.push_back(mean);
  }
  progress.finish();
  res.chunks = step;
  res.seconds = progress.elapsed_s();
  write_file_atomic((fs::path(run_dir) / profile_field::kFile).string(),
                    profile.to_json(model_name, opt.top_tokens, decode)
                            .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
                        "\n");
  if (was_training) model->train();
  return res;
}

}  // namespace moescope
