// _core.cpp: the Python binding (pybind11) of the torch-free routing library (src/routing/) over
// plain numpy arrays. No torch here: the Python side (moescope/watch.py) turns a model's top-k
// ids into counts on the tensors' device and hands this module one interval's arrays per log
// interval. Library errors become Python exceptions (ValueError for bad input, RuntimeError
// otherwise), with the library's message.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/config.h"
#include "io/jsonl.h"
#include "routing/forward_pass.h"
#include "routing/interval.h"
#include "routing/ladder.h"
#include "routing/metrics.h"
#include "routing/routing_log.h"
#include "run/log_fields.h"
#include "run/run_dir.h"

namespace py = pybind11;
using namespace moescope;

namespace {

using I64 = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;
using F64 = py::array_t<double, py::array::c_style | py::array::forcecast>;

std::vector<int64_t> vec(const I64& a) { return std::vector<int64_t>(a.data(), a.data() + a.size()); }

// ScopeConfig from {"window": 3, ...}: every key must be a ScopeConfig field (config.h).
ScopeConfig scope_config(const py::dict& d) {
  ScopeConfig c;
  size_t used = 0;
  c.visit_fields([&](const char* name, auto& v, const FieldInfo& info) {
    if (!d.contains(name)) return;
    using T = std::decay_t<decltype(v)>;
    v = d[name].cast<T>();
    if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>)
      info.range.check(std::string("scope.") + name, v);
    ++used;
  });
  if (used != d.size()) {
    std::string known;
    c.visit_fields(
        [&](const char* name, auto&, const FieldInfo&) { known += std::string(known.empty() ? "" : ", ") + name; });
    throw std::invalid_argument("moescope: unknown scope setting among " +
                                py::str(d.attr("keys")()).cast<std::string>() + " (known: " + known + ")");
  }
  return c;
}

// One process's routing-health state for a watched model: the layers, the routing log (detector,
// alerts.jsonl, TensorBoard) and the ladder; fed one whole interval at a time.
class Session {
 public:
  Session(std::vector<std::tuple<int64_t, int64_t, int64_t>> layers, const std::string& run_dir, bool writer,
          const py::dict& scope)
      : cfg_(scope_config(scope)), ladder_(cfg_), run_dir_(run_dir) {
    std::vector<RoutingLayer> rl;
    for (auto& [l, e, k] : layers) rl.push_back({l, e, k});
    log_ = std::make_unique<RoutingLog>(rl, cfg_, run_dir, writer);
  }

  // One log interval. Per layer i (arrays stacked over layers): counts[i] [E], kept[i] [E],
  // step_counts[i] [S, E] (each optimizer step's counts), totals[i] [n_totals] (RoutingTotals in
  // totals_fields() order), coact[i] [E, E] or None, bias[i] [E] (the mean over the interval's
  // steps) with bias_lo/bias_hi, or None. Returns (the "moe" and "moe_summary" JSON text, the
  // alerts fired as JSON text).
  py::tuple log(int64_t step, const std::vector<I64>& counts, const std::vector<I64>& kept,
                const std::vector<I64>& step_counts, const std::vector<F64>& totals,
                const std::vector<std::optional<I64>>& coact, const std::vector<std::optional<F64>>& bias,
                const std::vector<std::optional<F64>>& bias_lo, const std::vector<std::optional<F64>>& bias_hi) {
    const auto& layers = log_->layers();
    const size_t L = layers.size();
    if (counts.size() != L || kept.size() != L || step_counts.size() != L || totals.size() != L || coact.size() != L ||
        bias.size() != L || bias_lo.size() != L || bias_hi.size() != L)
      throw std::invalid_argument("moescope: an interval needs every array for each of the " + std::to_string(L) +
                                  " layers");
    std::vector<LayerInterval> acc;
    std::vector<std::vector<double>> live;
    for (size_t i = 0; i < L; ++i) {
      const int64_t E = layers[i].experts;
      const std::string where = "layer " + std::to_string(layers[i].layer);
      LayerInterval a(E);
      if (counts[i].size() != E || kept[i].size() != E)
        throw std::invalid_argument(where + ": counts and kept need " + std::to_string(E) + " entries");
      if (step_counts[i].ndim() != 2 || step_counts[i].shape(1) != E)
        throw std::invalid_argument(where + ": step counts must be [steps, " + std::to_string(E) + "]");
      RoutingTotals& t = a.totals;
      if (static_cast<size_t>(totals[i].size()) != n_totals())
        throw std::invalid_argument(where + ": totals need " + std::to_string(n_totals()) + " entries");
      const double* pt = totals[i].data();
      t.visit([&](const char*, auto& v, Reduction) { v = static_cast<std::decay_t<decltype(v)>>(*pt++); });
      if (t.forwards > 0) {
        a.counts = vec(counts[i]);
        a.kept = vec(kept[i]);
      }
      for (py::ssize_t s = 0; s < step_counts[i].shape(0); ++s)
        a.add_step_counts(std::vector<int64_t>(step_counts[i].data(s, 0), step_counts[i].data(s, 0) + E));
      if (coact[i]) {
        if (coact[i]->size() != E * E) throw std::invalid_argument(where + ": co-activation must be [E, E]");
        if (t.forwards > 0) a.add_coactivation(vec(*coact[i]));
      }
      if (bias[i]) {
        if (bias[i]->size() != E || !bias_lo[i] || !bias_hi[i] || bias_lo[i]->size() != E || bias_hi[i]->size() != E)
          throw std::invalid_argument(where + ": bias, bias_lo and bias_hi need " + std::to_string(E) + " entries");
        a.bias_sum.assign(bias[i]->data(), bias[i]->data() + E);
        a.bias_lo.assign(bias_lo[i]->data(), bias_lo[i]->data() + E);
        a.bias_hi.assign(bias_hi[i]->data(), bias_hi[i]->data() + E);
        a.bias_steps = 1;  // already the interval's mean
      }
      acc.push_back(std::move(a));
      live.emplace_back();
    }
    nlohmann::json rec;
    auto out = log_->log(step, acc, live, /*gradients=*/false, rec);
    if (auto* tb = log_->tensorboard()) tb->flush();  // live in TensorBoard at every record
    nlohmann::json alerts = nlohmann::json::array();
    for (auto& o : out)
      for (auto& al : o.alerts) alerts.push_back(al.to_json());
    last_ = std::move(acc);
    last_out_ = std::move(out);
    return py::make_tuple(rec.dump(), alerts.dump());
  }

  // The eval record's "moe" and "moe_summary" from per-layer validation counts.
  std::string log_eval(int64_t step, const std::vector<I64>& counts) {
    std::vector<std::vector<int64_t>> c;
    for (auto& a : counts) c.push_back(vec(a));
    nlohmann::json rec;
    log_->log_eval(step, c, rec);
    return rec.dump();
  }

  // The ladder for layer i of the last logged interval, acting only on the bias rate (the one
  // knob a transformers router with e_score_correction_bias has): the ladder's decision (JSON
  // text of the remediation record) or None. bias_rate: the current rate (0 = off).
  std::optional<std::string> ladder_bias_rate(int64_t step, size_t i, double bias_rate) {
    if (i >= last_.size()) throw std::out_of_range("moescope: no logged interval for layer index " + std::to_string(i));
    const int64_t L = log_->layers()[i].layer;
    RouterKnobs k;
    k.bias_balance = bias_rate > 0;
    k.bias_update_rate = bias_rate > 0 ? bias_rate : k.bias_update_rate;
    const bool unhealthy = ladder_unhealthy(log_->detector(), L, k.bias_balance, cfg_);
    auto a = ladder_.decide(L, unhealthy, k, last_out_[i].m, last_out_[i].maxvio_batch, last_[i].router_entropy());
    if (!a || a->reinit || a->knob != Knob::kBiasRate) return std::nullopt;
    return a->event(step, L).dump();
  }

  std::string status(int64_t layer) const { return log_->detector().status(layer); }
  static size_t n_totals() {
    size_t n = 0;
    RoutingTotals t;
    t.visit([&](const char*, auto&, Reduction) { ++n; });
    return n;
  }
  static std::vector<std::string> totals_fields() {
    std::vector<std::string> names;
    RoutingTotals t;
    t.visit([&](const char* name, auto&, Reduction) { names.push_back(name); });
    return names;
  }
  static std::vector<bool> totals_max() {
    std::vector<bool> m;
    RoutingTotals t;
    t.visit([&](const char*, auto&, Reduction r) { m.push_back(r == Reduction::kMax); });
    return m;
  }

 private:
  ScopeConfig cfg_;
  Ladder ladder_;
  std::string run_dir_;
  std::unique_ptr<RoutingLog> log_;
  std::vector<LayerInterval> last_;
  std::vector<RoutingLog::LayerOutcome> last_out_;
};

// The CPU fast path of one forward (routing/forward_pass.h) over numpy views of the watcher's CPU
// tensors (no copy): ids [T, K] int64, probs / logits [T, E] float32 or None; adds into the
// layer's step counts [E] (int64), its device sums [4] (float64: dropped, ent_sum, top1_sum,
// logit_sq) and, when given, its co-activation [E, E] (int64), in place. Returns (logit_max,
// prob_tokens, logit_n). Every array is checked (dtype, C order, shape, writable) with `where`
// (the layer) in the message; an id outside [0, E) raises before anything is added.
py::tuple observe_forward(const py::array& ids, const py::object& probs, const py::object& logits, bool sigmoid,
                          const py::array& counts, const py::array& sums, const py::object& coact,
                          const std::string& where) {
  auto need = [&](const py::array& a, const char* name, bool is_int, int bits, bool writable) {
    const auto k = a.dtype().kind();
    if ((is_int ? k != 'i' : k != 'f') || a.itemsize() != bits / 8)
      throw std::invalid_argument(where + ": " + name + " must be " + (is_int ? "int" : "float") +
                                  std::to_string(bits) + ", got dtype " + py::str(a.dtype()).cast<std::string>());
    if (!(a.flags() & py::array::c_style)) throw std::invalid_argument(where + ": " + name + " must be C-contiguous");
    if (writable && !a.writeable()) throw std::invalid_argument(where + ": " + name + " must be writable");
  };
  need(ids, "topk_ids", true, 64, false);
  need(counts, "counts", true, 64, true);
  need(sums, "sums", false, 64, true);
  if (ids.ndim() != 2) throw std::invalid_argument(where + ": topk_ids must be [tokens, top_k]");
  const int64_t T = ids.shape(0), K = ids.shape(1), E = counts.size();
  if (counts.ndim() != 1 || sums.ndim() != 1 || sums.size() != 4)
    throw std::invalid_argument(where + ": counts must be [n_experts] and sums [4]");
  const float* score[2] = {nullptr, nullptr};
  const py::object* src[2] = {&probs, &logits};
  const char* names[2] = {"probs", "logits"};
  for (int i = 0; i < 2; ++i) {
    if (src[i]->is_none()) continue;
    auto a = py::cast<py::array>(*src[i]);
    need(a, names[i], false, 32, false);
    if (a.ndim() != 2 || a.shape(0) != T || a.shape(1) != E)
      throw std::invalid_argument(where + ": " + names[i] + " must be [tokens = " + std::to_string(T) +
                                  ", n_experts = " + std::to_string(E) + "]");
    score[i] = static_cast<const float*>(a.data());
  }
  int64_t* co = nullptr;
  if (!coact.is_none()) {
    auto a = py::cast<py::array>(coact);
    need(a, "coact", true, 64, true);
    if (a.size() != E * E) throw std::invalid_argument(where + ": coact must be [n_experts, n_experts]");
    co = static_cast<int64_t*>(a.mutable_data());
  }
  const auto* id = static_cast<const int64_t*>(ids.data());
  auto* c = static_cast<int64_t*>(const_cast<py::array&>(counts).mutable_data());
  auto* s = static_cast<double*>(const_cast<py::array&>(sums).mutable_data());
  ForwardSums f;
  {
    py::gil_scoped_release nogil;
    f = accumulate_forward(id, T, K, E, score[0], score[1], sigmoid, c, co, where);
  }
  s[1] += f.ent_sum;
  s[2] += f.top1_sum;
  s[3] += f.logit_sq;
  return py::make_tuple(f.logit_max, f.prob_tokens, f.logit_n);
}

}  // namespace

// The collapse detector alone, over logged per-layer figures: what `Session.log` feeds it, from
// a run log's records (counts, maxvio_batch, drop_rate), as a resumed run's replay does in C++
// (scope/microscope.cpp on_resume). Returns the alerts that fire as JSON text.
class Detector {
 public:
  explicit Detector(const py::dict& scope) : d_(scope_config(scope)) {}
  std::string observe(int64_t step, int64_t layer, const I64& counts, int64_t top_k, double maxvio_batch,
                      double drop_rate) {
    if (top_k < 1 || top_k > static_cast<int64_t>(counts.size()))
      throw std::invalid_argument("moescope: top_k " + std::to_string(top_k) + " for " + std::to_string(counts.size()) +
                                  " experts (need 1 <= top_k <= experts)");
    nlohmann::json out = nlohmann::json::array();
    for (const auto& a : d_.observe(step, layer, load_metrics(vec(counts), top_k), {maxvio_batch, drop_rate}))
      out.push_back(a.to_json());
    return out.dump();
  }
  std::string status(int64_t layer) const { return d_.status(layer); }

 private:
  CollapseDetector d_;
};

PYBIND11_MODULE(_core, m) {
  m.doc() = "moescope's torch-free routing-health library (src/routing/) over numpy arrays";
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const std::invalid_argument& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const std::out_of_range& e) {
      PyErr_SetString(PyExc_IndexError, e.what());
    }
  });
  py::class_<Session>(m, "Session")
      .def(py::init<std::vector<std::tuple<int64_t, int64_t, int64_t>>, const std::string&, bool, const py::dict&>(),
           py::arg("layers"), py::arg("run_dir"), py::arg("writer"), py::arg("scope"))
      .def("log", &Session::log)
      .def("log_eval", &Session::log_eval)
      .def("ladder_bias_rate", &Session::ladder_bias_rate)
      .def("status", &Session::status)
      .def_static("totals_fields", &Session::totals_fields)
      .def_static("totals_max", &Session::totals_max);
  py::class_<Detector>(m, "Detector")
      .def(py::init<const py::dict&>(), py::arg("scope"))
      .def("observe", &Detector::observe, py::arg("step"), py::arg("layer"), py::arg("counts"), py::arg("top_k"),
           py::arg("maxvio_batch"), py::arg("drop_rate"))
      .def("status", &Detector::status);
  m.attr("STATUSES") = kStatuses;
  m.def(
      "load_metrics",
      [](const I64& counts, int64_t top_k) {
        const auto lm = load_metrics(vec(counts), top_k);
        nlohmann::json j{{"load", lm.load},
                         {"entropy_norm", lm.entropy_norm},
                         {"n_eff", lm.n_eff},
                         {"cv", lm.cv},
                         {"min_max_ratio", lm.min_max_ratio},
                         {"maxvio", lm.maxvio},
                         {"max_share", lm.max_share},
                         {"max_token_share", lm.max_token_share},
                         {"argmax", lm.argmax},
                         {"dead", lm.dead},
                         {"tokens_per_expert", spread_json(lm.spread)}};
        return j.dump();
      },
      py::arg("counts"), py::arg("top_k") = 1, "docs/metrics.md's load metrics of one set of counts (JSON text)");
  m.def("observe_forward", &observe_forward, py::arg("ids"), py::arg("probs"), py::arg("logits"), py::arg("sigmoid"),
        py::arg("counts"), py::arg("sums"), py::arg("coact"), py::arg("where"),
        "one forward's routing totals over CPU arrays in one pass, added in place (routing/forward_pass.h)");
  // The run log's field names (src/run/log_fields.h), shared with the writers and readers in C++.
  namespace f = log_field;
  for (const auto& [attr, name] :
       std::vector<std::pair<const char*, const char*>>{{"FIELD_SCHEMA", f::kSchema},
                                                        {"FIELD_TYPE", f::kType},
                                                        {"FIELD_STEP", f::kStep},
                                                        {"TYPE_TRAIN", f::kTrain},
                                                        {"TYPE_EVAL", f::kEval},
                                                        {"FIELD_MOE", f::kMoe},
                                                        {"FIELD_MOE_SUMMARY", f::kMoeSummary},
                                                        {"FIELD_ENTROPY_NORM", f::kEntropyNorm},
                                                        {"FIELD_N_EFF", f::kNEff},
                                                        {"FIELD_MAXVIO_BATCH_MAX", f::kMaxVioBatchMax},
                                                        {"FIELD_STATUS", f::kStatus},
                                                        {"FIELD_TO", f::kTo}})
    m.attr(attr) = name;
  m.def("metrics_path", &metrics_path);
  m.def("alerts_path", &alerts_path);
}
