// log_fields.h: the field names of the run-log records (RUN_DIR/metrics.jsonl, alerts.jsonl)
// that more than one module writes or reads: the trainer and the microscope write them; the
// health table, the resume replay, the dashboard and compress read them. Every record carries
// {"schema": 1, "type": ..., "step": ...}; docs/metrics.md defines the metrics themselves.
#pragma once

namespace moescope::log_field {

// Every record.
inline constexpr const char* kSchema = "schema";
inline constexpr const char* kType = "type";
inline constexpr const char* kStep = "step";
// Record types.
inline constexpr const char* kTrain = "train";
inline constexpr const char* kEval = "eval";
inline constexpr const char* kRemediation = "remediation";
inline constexpr const char* kCompress = "compress";                 // one per compression iteration
inline constexpr const char* kCompressSummary = "compress_summary";  // the last record of a compression
// A compress record's per-bank entries ("group": the bank's name).
inline constexpr const char* kGroups = "groups";
inline constexpr const char* kGroup = "group";
// A train or eval record's per-MoE-layer entries, and their fields.
inline constexpr const char* kMoe = "moe";
inline constexpr const char* kLayer = "layer";
inline constexpr const char* kCounts = "counts";
inline constexpr const char* kLoad = "load";                  // share of the top-k slots per expert
inline constexpr const char* kBias = "bias";                  // the router's balancing bias per expert
inline constexpr const char* kCoactivation = "coactivation";  // expert-pair counts (some records)
inline constexpr const char* kExpertGradNorm = "expert_grad_norm";
inline constexpr const char* kEntropyNorm = "entropy_norm";
inline constexpr const char* kNEff = "n_eff";
inline constexpr const char* kMaxVioBatch = "maxvio_batch";
inline constexpr const char* kMaxVioGlobal = "maxvio_global";  // eval records
inline constexpr const char* kDropRate = "drop_rate";
inline constexpr const char* kDead = "dead";
inline constexpr const char* kStatus = "status";
inline constexpr const char* kRouterEntropy = "router_entropy";
inline constexpr const char* kStarved = "starved";
inline constexpr const char* kMaxTokenShare = "max_token_share";
inline constexpr const char* kTokensPerExpert = "tokens_per_expert";  // {p50, p90, p99, min, max, cv}
// A train record's across-layer summary: tokens_per_expert over every layer's counts pooled,
// maxvio_batch_max, maxvio_batch_mean (optional when reading: older runs lack it).
inline constexpr const char* kMoeSummary = "moe_summary";
inline constexpr const char* kMaxVioBatchMax = "maxvio_batch_max";
// A train record's per-layer router saturation entries (docs/metrics.md: topk_overlap of the
// fixed probe batch against its routing at the previous sample).
inline constexpr const char* kSaturation = "saturation";
// A remediation record.
inline constexpr const char* kAction = "action";
inline constexpr const char* kFrom = "from";
inline constexpr const char* kTo = "to";
inline constexpr const char* kReason = "reason";

}  // namespace moescope::log_field
