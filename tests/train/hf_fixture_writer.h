// hf_fixture_writer.h: tiny random Hugging Face MoE checkpoints, one per architecture, in
// each architecture's published layout (tensor names, shapes, config.json keys), with a
// byte-level BPE tokenizer.json and expected.json: logits of a fixed input and greedy token
// ids computed by the independent double-precision reference (hf_reference.h). Written by
// `hf_fixture_gen` into tests/fixtures/hf/<arch>/ and committed; the tests only read them.
#pragma once
#include <string>
#include <vector>

namespace moescope::hffix {

const std::vector<std::string>& architectures();
// Writes DIR (created) for one architecture. Deterministic: the same bytes every time.
void write_fixture(const std::string& arch, const std::string& dir);

// The fixed prompt, its token ids under the fixture tokenizer (worked out by hand in the
// writer), the logits input and the number of greedy tokens.
extern const char* const kPrompt;
const std::vector<int64_t>& prompt_ids();
const std::vector<int64_t>& logits_input();
constexpr int kGreedyTokens = 6;

}  // namespace moescope::hffix
