// bpe_tokenizer.cpp: SentencePiece BPE training, loading and encode/decode (see bpe_tokenizer.h).
#include "data/bpe_tokenizer.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "io/atomic_file.h"
#include "io/remove_tree.h"
#include "data/spm_loader.h"
#include "data/token_file.h"

namespace moescope {
namespace {

namespace fs = std::filesystem;

// Removes a directory tree when it goes out of scope.
struct ScratchDir {
  fs::path path;
  ~ScratchDir() { remove_tree_nothrow(path.string()); }
};

}  // namespace

BpeTokenizer::BpeTokenizer(std::string model, const std::string& where) : model_(std::move(model)) {
  char err[512];
  if (spm_api().load(model_.data(), model_.size(), &sp_, err, sizeof err) != 0)
    throw std::runtime_error(where + ": not a valid SentencePiece model: " + err);
}

BpeTokenizer::~BpeTokenizer() {
  if (sp_) spm_api().free_handle(sp_);
}

std::unique_ptr<BpeTokenizer> BpeTokenizer::train(const std::string& corpus_path, int64_t vocab_size,
                                                  const std::string& work_dir) {
  if (vocab_size < 260 || vocab_size > (int64_t(1) << 24))
    throw std::invalid_argument("bpe tokenizer: vocab_size " + std::to_string(vocab_size) +
                                " out of range (need 260..16777216: 256 byte pieces + <unk> + merges)");
  const std::string text = read_file(corpus_path);
  if (text.find_first_not_of(" \t\r\n") == std::string::npos)
    throw std::runtime_error("bpe tokenizer: corpus '" + corpus_path + "' has no text");

  std::error_code ec;
  fs::create_directories(work_dir, ec);
  if (ec) throw std::runtime_error("bpe tokenizer: cannot create work dir '" + work_dir + "': " + ec.message());
  ScratchDir scratch{fs::path(work_dir) / ("bpe-train." + std::to_string(::getpid()))};
  remove_tree_nothrow(scratch.path.string());
  fs::create_directories(scratch.path, ec);
  if (ec) throw std::runtime_error("bpe tokenizer: cannot create '" + scratch.path.string() + "': " + ec.message());
  const std::string prefix = (scratch.path / "spm").string();

  unsigned threads = std::clamp(std::thread::hardware_concurrency(), 1u, 8u);
  std::unordered_map<std::string, std::string> args = {
      {"model_prefix", prefix},
      {"model_type", "bpe"},
      {"vocab_size", std::to_string(vocab_size)},
      {"hard_vocab_limit", "false"},
      {"byte_fallback", "true"},
      {"character_coverage", "0.9995"},
      {"normalization_rule_name", "identity"},
      {"add_dummy_prefix", "false"},
      {"remove_extra_whitespaces", "false"},
      {"allow_whitespace_only_pieces", "true"},
      {"split_digits", "true"},
      {"unk_id", "0"},
      {"bos_id", "-1"},
      {"eos_id", "-1"},
      {"pad_id", "-1"},
      {"input_sentence_size", "300000"},
      {"shuffle_input_sentence", "true"},
      {"num_threads", std::to_string(threads)},
      {"minloglevel", "2"},
  };
  std::vector<const char*> kv;
  for (auto& [k, v] : args) {
    kv.push_back(k.c_str());
    kv.push_back(v.c_str());
  }
  char err[512];
  if (spm_api().train(text.data(), text.size(), kv.data(), static_cast<int>(args.size()), err, sizeof err) != 0)
    throw std::runtime_error("bpe tokenizer: training on '" + corpus_path + "' failed: " + err);
  return from_model_file(prefix + ".model");
}

std::unique_ptr<BpeTokenizer> BpeTokenizer::from_model_file(const std::string& model_path) {
  return std::unique_ptr<BpeTokenizer>(new BpeTokenizer(read_file(model_path), model_path));
}

std::vector<int32_t> BpeTokenizer::encode(std::string_view text) const {
  int32_t* ids = nullptr;
  size_t n = 0;
  char err[512];
  if (spm_api().encode(sp_, text.data(), text.size(), &ids, &n, err, sizeof err) != 0)
    throw std::runtime_error(std::string("bpe tokenizer: encode failed: ") + err);
  std::vector<int32_t> out(ids, ids + n);
  spm_api().free_buf(ids);
  return out;
}

std::string BpeTokenizer::decode(const std::vector<int32_t>& ids) const {
  const int64_t n = vocab_size();
  for (int32_t id : ids)
    if (id < 0 || id >= n)
      throw std::invalid_argument("bpe tokenizer: cannot decode id " + std::to_string(id) + " (vocab size " +
                                  std::to_string(n) + ")");
  char* buf = nullptr;
  size_t len = 0;
  char err[512];
  if (spm_api().decode(sp_, ids.data(), ids.size(), &buf, &len, err, sizeof err) != 0)
    throw std::runtime_error(std::string("bpe tokenizer: decode failed: ") + err);
  std::string out(buf, len);
  spm_api().free_buf(buf);
  return out;
}

int64_t BpeTokenizer::vocab_size() const { return spm_api().piece_size(sp_); }

void BpeTokenizer::save(const std::string& dir) const {
  write_file_atomic((fs::path(dir) / "tokenizer.model").string(), model_);
  write_tokenizer_json(dir, *this, nlohmann::json{{"model_file", "tokenizer.model"}});
}

std::string BpeTokenizer::fingerprint() const {
  std::string s = "bpe:";
  const int n = spm_api().piece_size(sp_);
  for (int i = 0; i < n; ++i) {
    const char* piece;
    size_t len;
    float score;
    int f;
    spm_api().piece(sp_, i, &piece, &len, &score, &f);
    char flags[32];
    std::snprintf(flags, sizeof flags, "%.9g:%d%d%d", double(score), f & 1, (f >> 1) & 1, (f >> 2) & 1);
    s += std::string(piece, len) + '\0' + flags + '\n';
  }
  return hex64(hash_bytes(s));
}

}  // namespace moescope
