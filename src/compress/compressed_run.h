// compressed_run.h: the factorised experts on disk, and composing them into a model.
//
// A compressed run directory (written by `moescope compress`) is a loadable run:
//   OUT_DIR/config.json          the source run's config with the compress.* settings used
//   OUT_DIR/tokenizer.json (+ tokenizer.model)   copied from the source run
//   OUT_DIR/compressed.json      {"moescope_compressed_version": 1, source run, checkpoint, step}
//   OUT_DIR/model.safetensors    every weight that was not factorised under its Hugging Face name,
//                                plus per bank G (e.g. "layer1.gate", "global.up"):
//       mobe.G.A        F32 [E, P, R]   (the normalisation std folded in)
//       mobe.G.B        F32 [M, R, D]
//       mobe.G.alpha_logits F32 [E, M]  (alpha = softmax over M)
//       mobe.G.mean     F32 [E]         (the normalisation shift)
//       mobe.G.experts  I64 [E, 2]      (transformer layer, routed-expert index) per row
//     metadata: moescope.compressed_version = "1", mobe.G.family, mobe.G.layer, mobe.G.activation
//   OUT_DIR/metrics.jsonl        per-iteration "compress" records and the "compress_summary"
// Loading composes W = A f(softmax(logits) B) + mean into each factorised expert once, after
// which the model runs the normal MoE path.
#pragma once
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "compress/basis_model.h"
#include "core/config.h"
#include "data/tokenizer.h"
#include "io/safetensors.h"
#include "model/transformer.h"

namespace moescope::compress {

constexpr int kCompressedVersion = 1;
std::string compressed_marker_path(const std::string& run_dir);  // OUT_DIR/compressed.json
bool is_compressed_run(const std::string& run_dir);
// Throws naming the file when compressed.json is unreadable or of another version (with a hint).
void check_compressed_marker(const std::string& run_dir);

// "model.layers.{layer}.mlp.experts.{expert}.{family}_proj.weight"
std::string expert_weight_name(int64_t layer, int64_t expert, const std::string& family);

std::vector<TensorRecord> basis_records(const std::vector<BasisGroup>& groups);
std::map<std::string, std::string> basis_metadata(const std::vector<BasisGroup>& groups);
// Every bank in the file; throws on a missing version or an unknown one, or malformed banks.
std::vector<BasisGroup> read_basis_groups(const SafetensorsFile& f);
bool is_basis_tensor(const std::string& name);  // "mobe.*"
// HF names of every matrix the banks replace.
std::vector<std::string> factorised_names(const std::vector<BasisGroup>& groups);

// Writes each factorised expert's composed matrix into the model (shape-checked).
void compose_into(TransformerImpl& model, const std::vector<BasisGroup>& groups);

// Where a compressed run came from (recorded in compressed.json).
struct CompressedSource {
  std::string run, checkpoint;
  int64_t step = 0;
};
std::string compressed_weights_path(const std::string& run_dir);  // OUT_DIR/model.safetensors
// Creates out_dir for a compressed run; refused when it already holds a run (a config.json).
void create_compressed_run_dir(const std::string& out_dir);
// Writes the compressed run into out_dir (made by create_compressed_run_dir; its metrics.jsonl is
// written while compressing): weights of `model` minus the factorised matrices plus the banks,
// config, tokenizer, and compressed.json last, so that a run without it is incomplete.
void write_compressed_run(const std::string& out_dir, TransformerImpl& model, Config& cfg, const Tokenizer& tokenizer,
                          const std::vector<BasisGroup>& groups, const nlohmann::json& summary,
                          const CompressedSource& source);
// Loads a compressed run's weights into `model` (built from its config.json): the unfactorised
// tensors, then each factorised matrix composed from its bank. Returns what compressed.json says.
CompressedSource load_compressed_weights(const std::string& run_dir, TransformerImpl& model);

}  // namespace moescope::compress
