// mobe_dir.h: a Hugging Face model directory whose routed experts' gate/up matrices are stored
// as Mixture-of-Basis-Experts factors (written by `moescope compress --model`,
// compress/model_dir_compress.h), and how it loads.
//
//   OUT/config.json   the source's config.json plus the entry kMobeConfigKey ("moescope_mobe"):
//     {"version": 1, "activation": "silu", "scope": "layer", "families": ["gate", "up"],
//      "normalise": true, "solver": ..., "init": ..., "rank": R, "n_bases": M,
//      "files": ["mobe-layer1-gate.safetensors", ...], "source": DIR}
//   OUT/model.safetensors (or the source's shard names + model.safetensors.index.json): every
//     source tensor byte for byte, in its own dtype, except the factorised gate/up matrices
//     (and their FP8 weight_scale_inv blocks); down projections are kept.
//   OUT/<each file of "files">: the banks in compressed_run.h's format (mobe.G.A with the
//     normalisation std folded in, mobe.G.B, mobe.G.alpha_logits, mobe.G.mean, mobe.G.experts),
//     read by read_basis_groups.
//   OUT/tokenizer files and the source's other small files, copied; OUT/metrics.jsonl.
// Loading composes W = A f(softmax(logits) B) + mean into each factorised expert once
// (compose_into, the code compressed runs use), after the other weights are read.
#pragma once
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "compress/basis_model.h"
#include "model/hf_weights_load.h"
#include "model/transformer.h"

namespace moescope::compress {

constexpr int kMobeDirVersion = 1;

// True when DIR/config.json exists, parses and has the moescope_mobe entry.
bool is_mobe_model_dir(const std::string& dir);
// The entry, checked: an object with a supported "version" (else an error naming the version
// with a hint) and a non-empty "files" list of file names in DIR that exist.
nlohmann::json read_mobe_entry(const std::string& dir);
// Every bank of every listed file (read_basis_groups); a missing factor tensor or metadata entry
// is an error naming it and the file.
std::vector<BasisGroup> read_mobe_banks(const std::string& dir);
// The module names the banks replace ("layers.L.mlp.experts.E.gate_proj.weight").
std::set<std::string> factorised_module_names(const std::vector<BasisGroup>& groups);

// What the loader needs (model/hf_weights_load.h): the module names not in the files, and the
// step that composes them into the model.
HfLoadOverlay mobe_load(const std::string& dir);

}  // namespace moescope::compress
