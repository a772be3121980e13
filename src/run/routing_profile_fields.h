// routing_profile_fields.h: the file and field names of RUN_DIR/routing_profile.json, the
// whole-corpus routing analysis that `moescope scope --model DIR --data FILE --out RUN` writes
// (scope/routing_profile.h) and `moescope scope --run RUN` (run/routing_profile_view.h) and
// the dashboard read. Definitions of the numbers: docs/metrics.md, "Routing over a corpus".
// Layout (version 1):
//   {"routing_profile_version": 1, "model": DIR, "corpora": [{"name", "tokens"}...],
//    "tokens_per_expert": {p50, p90, p99, min, max, cv}   (every layer's corpus counts pooled)
//    "layers": [{"layer", "experts", "top_k", "counts", "corpus_counts": [[...] per corpus],
//                "corpus_share": [[...] per corpus], "dead", "entropy_norm", "n_eff",
//                "maxvio_global", "tokens_per_expert", "specialisation": [per expert or null],
//                "preferred_corpus": [per expert, -1 when unused],
//                "top_tokens": [[{"id", "text", "count", "count_error", "share"}...] per expert]}...],
//                (Space-Saving counts, scope/heavy_hitters.h: the true count is in
//                [count - count_error, count]; count_error 0 = exact)
//    "agreement": [{"from", "to", "mi", "nmi", "h_from", "h_to"}...]}   (consecutive MoE layers)
#pragma once

namespace moescope::profile_field {

inline constexpr const char* kFile = "routing_profile.json";
inline constexpr int kVersion = 1;

inline constexpr const char* kVersionKey = "routing_profile_version";
inline constexpr const char* kModel = "model";
inline constexpr const char* kCorpora = "corpora";
inline constexpr const char* kName = "name";
inline constexpr const char* kTokens = "tokens";
inline constexpr const char* kTokensPerExpert = "tokens_per_expert";  // {p50, p90, p99, min, max, cv}
inline constexpr const char* kLayers = "layers";
inline constexpr const char* kLayer = "layer";
inline constexpr const char* kExperts = "experts";
inline constexpr const char* kTopK = "top_k";
inline constexpr const char* kCounts = "counts";
inline constexpr const char* kCorpusCounts = "corpus_counts";
inline constexpr const char* kCorpusShare = "corpus_share";
inline constexpr const char* kDead = "dead";
inline constexpr const char* kEntropyNorm = "entropy_norm";
inline constexpr const char* kNEff = "n_eff";
inline constexpr const char* kMaxVioGlobal = "maxvio_global";
inline constexpr const char* kSpecialisation = "specialisation";
inline constexpr const char* kPreferredCorpus = "preferred_corpus";
inline constexpr const char* kTopTokens = "top_tokens";
inline constexpr const char* kId = "id";
inline constexpr const char* kText = "text";
inline constexpr const char* kCount = "count";
inline constexpr const char* kCountError = "count_error";
inline constexpr const char* kShare = "share";
inline constexpr const char* kAgreement = "agreement";
inline constexpr const char* kFrom = "from";
inline constexpr const char* kTo = "to";
inline constexpr const char* kMi = "mi";
inline constexpr const char* kNmi = "nmi";
inline constexpr const char* kHFrom = "h_from";
inline constexpr const char* kHTo = "h_to";

}  // namespace moescope::profile_field
