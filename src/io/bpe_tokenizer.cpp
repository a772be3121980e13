// bpe_tokenizer.cpp: SentencePiece BPE training, loading and encode/decode (see bpe_tokenizer.h).
#include "io/bpe_tokenizer.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include <unistd.h>

#include <nlohmann/json.hpp>
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include "io/atomic_file.h"
#include "io/token_file.h"

namespace moescope {
namespace {

namespace fs = std::filesystem;

constexpr size_t kMaxChunkBytes = 4000;  // SentencePiece skips sentences over max_sentence_length

// Feeds the corpus to the trainer as lines, cutting over-long lines into chunks.
class CorpusLines : public sentencepiece::SentenceIterator {
 public:
  explicit CorpusLines(std::string text) : text_(std::move(text)) { Next(); }
  bool done() const override { return done_; }
  const std::string& value() const override { return value_; }
  sentencepiece::util::Status status() const override { return sentencepiece::util::Status(); }  // default-constructed = OK
  void Next() override {
    while (pos_ < text_.size()) {
      size_t eol = text_.find('\n', pos_);
      if (eol == std::string::npos) eol = text_.size();
      size_t end = eol;
      if (end - pos_ > kMaxChunkBytes) {
        end = pos_ + kMaxChunkBytes;
        size_t space = text_.rfind(' ', end);
        if (space != std::string::npos && space > pos_) {
          end = space + 1;
        } else {
          while (end > pos_ && (static_cast<unsigned char>(text_[end]) & 0xC0) == 0x80) --end;
          if (end == pos_) end = pos_ + kMaxChunkBytes;
        }
      }
      value_.assign(text_, pos_, end - pos_);
      pos_ = end == eol ? eol + 1 : end;
      if (!value_.empty() && value_.back() == '\r') value_.pop_back();
      if (!value_.empty()) return;
    }
    done_ = true;
    value_.clear();
  }

 private:
  std::string text_, value_;
  size_t pos_ = 0;
  bool done_ = false;
};

std::string hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// Removes a directory tree when it goes out of scope.
struct ScratchDir {
  fs::path path;
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

}  // namespace

BpeTokenizer::BpeTokenizer(std::string model, const std::string& where)
    : model_(std::move(model)), sp_(std::make_unique<sentencepiece::SentencePieceProcessor>()) {
  auto st = sp_->LoadFromSerializedProto(model_);
  if (!st.ok())
    throw std::runtime_error(where + ": not a valid SentencePiece model: " + st.error_message());
}

BpeTokenizer::~BpeTokenizer() = default;

std::unique_ptr<BpeTokenizer> BpeTokenizer::train(const std::string& corpus_path, int64_t vocab_size,
                                                   const std::string& work_dir) {
  if (vocab_size < 260 || vocab_size > (int64_t(1) << 24))
    throw std::invalid_argument("bpe tokenizer: vocab_size " + std::to_string(vocab_size) +
                                " out of range (need 260..16777216: 256 byte pieces + <unk> + merges)");
  CorpusLines lines(read_file(corpus_path));
  if (lines.done()) throw std::runtime_error("bpe tokenizer: corpus '" + corpus_path + "' has no text");

  std::error_code ec;
  fs::create_directories(work_dir, ec);
  if (ec) throw std::runtime_error("bpe tokenizer: cannot create work dir '" + work_dir + "': " + ec.message());
  ScratchDir scratch{fs::path(work_dir) / ("bpe-train." + std::to_string(::getpid()))};
  fs::remove_all(scratch.path, ec);
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
      {"max_sentence_length", std::to_string(kMaxChunkBytes * 2)},
      {"num_threads", std::to_string(threads)},
      {"minloglevel", "2"},
  };
  auto st = sentencepiece::SentencePieceTrainer::Train(args, &lines);
  if (!st.ok())
    throw std::runtime_error("bpe tokenizer: training on '" + corpus_path + "' failed: " + st.error_message());
  return from_model_file(prefix + ".model");
}

std::unique_ptr<BpeTokenizer> BpeTokenizer::from_model_file(const std::string& model_path) {
  return std::unique_ptr<BpeTokenizer>(new BpeTokenizer(read_file(model_path), model_path));
}

std::vector<int32_t> BpeTokenizer::encode(std::string_view text) const {
  std::vector<int> ids;
  auto st = sp_->Encode(text, &ids);
  if (!st.ok()) throw std::runtime_error(std::string("bpe tokenizer: encode failed: ") + st.error_message());
  return std::vector<int32_t>(ids.begin(), ids.end());
}

std::string BpeTokenizer::decode(const std::vector<int32_t>& ids) const {
  const int64_t n = vocab_size();
  for (int32_t id : ids)
    if (id < 0 || id >= n)
      throw std::invalid_argument("bpe tokenizer: cannot decode id " + std::to_string(id) + " (vocab size " +
                                  std::to_string(n) + ")");
  std::string out;
  auto st = sp_->Decode(std::vector<int>(ids.begin(), ids.end()), &out);
  if (!st.ok()) throw std::runtime_error(std::string("bpe tokenizer: decode failed: ") + st.error_message());
  return out;
}

int64_t BpeTokenizer::vocab_size() const { return sp_->GetPieceSize(); }

void BpeTokenizer::save(const std::string& dir) const {
  write_file_atomic((fs::path(dir) / "tokenizer.model").string(), model_);
  write_tokenizer_json(dir, *this, nlohmann::json{{"model_file", "tokenizer.model"}});
}

std::string BpeTokenizer::fingerprint() const {
  std::string s = "bpe:";
  for (int i = 0; i < sp_->GetPieceSize(); ++i) {
    char flags[32];
    std::snprintf(flags, sizeof flags, "%.9g:%d%d%d", double(sp_->GetScore(i)), int(sp_->IsUnknown(i)),
                  int(sp_->IsControl(i)), int(sp_->IsByte(i)));
    s += sp_->IdToPiece(i) + '\0' + flags + '\n';
  }
  return hex64(hash_bytes(s));
}

}  // namespace moescope
