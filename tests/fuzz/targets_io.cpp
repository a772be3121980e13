// targets_io.cpp: fuzz targets for the io formats and the run logs: safetensors (header and
// body), the token cache, tokenizer.json, and JSONL run logs through every reader (the
// tolerant reader, `scope`'s health table, the compressed-run summary, the dashboard's index
// and every API endpoint, the report's PNG charts).
#include <cstring>
#include <filesystem>

#include "compress/compress_summary.h"
#include "dashboard/chart_png.h"
#include "dashboard/dashboard_api.h"
#include "dashboard/run_catalog.h"
#include "fuzz_target.h"
#include "io/jsonl.h"
#include "io/safetensors.h"
#include "data/token_file.h"
#include "data/tokenizer.h"
#include "run/health.h"

namespace fs = std::filesystem;

namespace moescope::fuzz {
namespace {

const std::string kBodyMark = "\n#BODY\n";

std::string source(const std::string& rel) { return get_file(std::string(MOESCOPE_SOURCE_DIR) + "/" + rel); }

// ---- safetensors: raw file bytes, or "HEADER-JSON\n#BODY\nBYTES" (the length prefix and
// padding are filled in, so mutations reach the header's validation).
std::string as_safetensors(const std::string& input) {
  if (input.empty() || input[0] != '{') return input;
  const size_t mark = input.find(kBodyMark);
  std::string header = input.substr(0, mark);
  const std::string body = mark == std::string::npos ? "" : input.substr(mark + kBodyMark.size());
  while ((8 + header.size()) % 8) header += ' ';
  std::string file(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) file[size_t(i)] = char((n >> (8 * i)) & 0xff);
  return file + header + body;
}

FuzzTarget safetensors_target() {
  FuzzTarget t;
  t.name = "safetensors";
  t.max_len = 256 << 10;
  std::vector<TensorRecord> recs = {{"a.weight", "F32", {2, 3}, std::string(24, '\x01')},
                                    {"b", "I64", {}, std::string(8, '\x02')},
                                    {"c", "BF16", {0, 4}, ""},
                                    {"d", "U8", {5}, "hello"}};
  const std::string file = encode_safetensors(recs, {{"note", "fuzz seed"}});
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t(uint8_t(file[size_t(i)])) << (8 * i);
  std::string header = file.substr(8, n);
  while (!header.empty() && header.back() == ' ') header.pop_back();
  t.seeds = {file, header + kBodyMark + file.substr(8 + n), encode_safetensors({})};
  t.run = [](const std::string& input) {
    SafetensorsFile f = decode_safetensors(as_safetensors(input), "fuzz.safetensors");
    for (const TensorRecord& r : f.tensors) {
      int64_t numel = 1;
      for (int64_t d : r.shape) numel *= d;
      if (int64_t(r.bytes.size()) != numel * safetensors_dtype_size(r.dtype))
        throw Finding("decoded tensor '" + r.name + "' holds " + std::to_string(r.bytes.size()) +
                      " bytes for its shape");
    }
  };
  return t;
}

// ---- token cache: raw file bytes, opened with and without the CRC check.
FuzzTarget token_cache_target() {
  FuzzTarget t;
  t.name = "token_cache";
  auto dir = scratch_dir("token-cache");
  t.state = dir;
  const std::string path = *dir + "/cache.bin";
  write_token_file(path, {1, 2, 3, 500, 65535, 0, 7}, 11, 22);
  t.seeds.push_back(get_file(path));
  write_token_file(path, {70000, 1, 2, 3}, 33, 44);
  t.seeds.push_back(get_file(path));
  write_token_file(path, {}, 0, 0);
  t.seeds.push_back(get_file(path));
  t.run = [path](const std::string& input) {
    put_file(path, input);
    for (bool crc : {false, true}) {
      TokenFile f = TokenFile::open(path, crc);
      int64_t sum = 0;
      for (size_t i = 0; i < f.size() && i < 4096; ++i) sum += f.at(i);
      if (f.size()) sum += f.at(f.size() - 1);
      try {
        f.at(f.size());
        throw Finding("TokenFile::at(size()) did not throw");
      } catch (const std::out_of_range&) {
      }
      (void)sum;
    }
  };
  return t;
}

// ---- tokenizer.json: moescope's own kinds and Hugging Face files, loaded, then encode and
// decode (round trip where the tokenizer promises one is not checked: only clean ends).
FuzzTarget tokenizer_target() {
  FuzzTarget t;
  t.name = "tokenizer_json";
  t.max_len = 256 << 10;
  auto dir = scratch_dir("tokenizer");
  t.state = dir;
  t.seeds.push_back(source("tests/fixtures/runs/tiny-remediated/tokenizer.json"));
  for (const char* f :
       {"tests/fuzz/seeds/tokenizer_json/seed-hf-spm.json", "tests/fuzz/seeds/tokenizer_json/seed-hf-bytelevel.json"})
    t.seeds.push_back(source(f));
  {
    auto byte_tok = build_tokenizer("byte", "", 0, *dir);
    byte_tok->save(*dir);
    t.seeds.push_back(get_file(*dir + "/tokenizer.json"));
  }
  const std::string d = *dir;
  t.run = [d](const std::string& input) {
    put_file(d + "/tokenizer.json", input);
    auto tok = load_tokenizer(d);
    const std::string text = std::string("Hello, w\xC3\xB6rld! abc <s> [SEP] 123\n\t ") + "\xFF\xC0\xAF" +
                             " \xE2\x96\x81"
                             "ab";
    std::vector<int32_t> ids = tok->encode(text);
    for (int32_t id : ids)
      if (id < 0 || id >= tok->vocab_size())
        throw Finding("encode returned id " + std::to_string(id) + " outside the vocabulary");
    tok->decode(ids);
    stage([&] { tok->decode({0, int32_t(tok->vocab_size() - 1)}); });
    stage([&] { tok->decode({int32_t(tok->vocab_size()), -1}); });
  };
  return t;
}

// ---- JSONL run logs: the input is a run's metrics.jsonl (and its alerts.jsonl).
FuzzTarget jsonl_target() {
  FuzzTarget t;
  t.name = "jsonl";
  t.max_len = 256 << 10;
  auto dir = scratch_dir("jsonl");
  t.state = dir;
  const std::string run = *dir + "/run";
  fs::create_directories(run);
  t.seeds.push_back(source("tests/fixtures/runs/tiny-remediated/metrics.jsonl"));
  t.seeds.push_back(source("tests/fuzz/seeds/jsonl/seed-compress.jsonl"));
  const std::string root = *dir;
  t.run = [root, run](const std::string& input) {
    const std::string metrics = run + "/metrics.jsonl";
    put_file(metrics, input);
    put_file(run + "/alerts.jsonl", input);
    stage([&] { read_jsonl(metrics); });
    stage([&] {
      HealthTable h = read_health_table(metrics);
      h.render();
      nlohmann::json{{"step", h.step}, {"layers", h.layers}}.dump();  // what `scope --json` prints
    });
    stage([&] { compress::render_compress_summary(compress::read_compress_summary(metrics)); });
    dashboard::RunCatalog catalog(root);
    bool more = true;
    while (more) catalog.update_all(&more);
    dashboard::DashboardApi api(catalog);
    const std::vector<std::pair<std::string, dashboard::Params>> calls = {
        {"/api/runs", {}},
        {"/api/run", {{"run", "run"}}},
        {"/api/events", {{"run", "run"}}},
        {"/api/health", {{"run", "run"}}},
        {"/api/health", {{"run", "run"}, {"step", "5"}}},
        {"/api/series", {{"run", "run"}, {"field", "loss"}}},
        {"/api/series", {{"run", "run"}, {"field", "entropy_norm"}, {"points", "3"}}},
        {"/api/series", {{"run", "run"}, {"table", "eval"}, {"field", "val_loss"}}},
        {"/api/series", {{"run", "run"}, {"table", "compress"}, {"field", "rel_error"}}},
        {"/api/heatmap", {{"run", "run"}, {"field", "load"}}},
        {"/api/heatmap", {{"run", "run"}, {"field", "counts"}, {"step", "4"}}},
        {"/api/heatmap", {{"run", "run"}, {"field", "bias"}}},
        {"/api/heatmap", {{"run", "run"}, {"field", "dead"}}},
        {"/api/heatmap", {{"run", "run"}, {"field", "expert_grad_norm"}}},
        {"/api/heatmap", {{"run", "run"}, {"field", "coactivation"}}},
        {"/api/heatmap", {{"run", "run"}, {"field", "coactivation"}, {"layer", "1"}}}};
    for (const auto& [path, params] : calls)
      stage([&] { api.handle(path, params).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); });
    // The PNG charts cost ~50 ms (zlib) against ~3 ms for the rest: every 16th input.
    static uint64_t n = 0;
    if (n++ % 16 == 0) stage([&] { dashboard::write_run_pngs(run, root + "/png"); });
  };
  return t;
}

}  // namespace

std::vector<TargetFactory> io_targets() {
  return {{"safetensors", safetensors_target},
          {"token_cache", token_cache_target},
          {"tokenizer_json", tokenizer_target},
          {"jsonl", jsonl_target}};
}

}  // namespace moescope::fuzz
