// spm_plugin.cpp: libmoescope_spm.so, SentencePiece behind a C ABI (see spm_plugin.h).
#include "data/spm_plugin.h"

#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

namespace {

constexpr size_t kMaxChunkBytes = 4000;  // SentencePiece skips sentences over max_sentence_length

int fail(char* err, size_t errn, const std::string& msg) {
  if (errn > 0) {
    std::strncpy(err, msg.c_str(), errn - 1);
    err[errn - 1] = '\0';
  }
  return 1;
}

// Feeds the corpus to the trainer as lines, cutting over-long lines into chunks (at a space,
// else at a UTF-8 boundary), so a corpus with no newlines still trains.
class CorpusLines : public sentencepiece::SentenceIterator {
 public:
  CorpusLines(const char* text, size_t n) : text_(text, n) { Next(); }
  bool done() const override { return done_; }
  const std::string& value() const override { return value_; }
  sentencepiece::util::Status status() const override { return sentencepiece::util::Status(); }
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

}  // namespace

extern "C" {

__attribute__((visibility("default"))) int moescope_spm_train(const char* text, size_t n, const char* const* kv,
                                                              int nkv, char* err, size_t errn) {
  try {
    CorpusLines lines(text, n);
    if (lines.done()) return fail(err, errn, "corpus has no text");
    std::unordered_map<std::string, std::string> args;
    for (int i = 0; i + 1 < 2 * nkv; i += 2) args[kv[i]] = kv[i + 1];
    args["max_sentence_length"] = std::to_string(kMaxChunkBytes * 2);
    auto st = sentencepiece::SentencePieceTrainer::Train(args, &lines);
    if (!st.ok()) return fail(err, errn, st.error_message());
    return 0;
  } catch (const std::exception& e) {
    return fail(err, errn, e.what());
  }
}

__attribute__((visibility("default"))) int moescope_spm_load(const char* bytes, size_t n, void** handle, char* err,
                                                             size_t errn) {
  auto* sp = new sentencepiece::SentencePieceProcessor();
  auto st = sp->LoadFromSerializedProto(std::string_view(bytes, n));
  if (!st.ok()) {
    delete sp;
    return fail(err, errn, st.error_message());
  }
  *handle = sp;
  return 0;
}

__attribute__((visibility("default"))) void moescope_spm_free(void* handle) {
  delete static_cast<sentencepiece::SentencePieceProcessor*>(handle);
}

__attribute__((visibility("default"))) int moescope_spm_encode(void* handle, const char* text, size_t n, int32_t** ids,
                                                               size_t* nids, char* err, size_t errn) {
  std::vector<int> v;
  auto st = static_cast<sentencepiece::SentencePieceProcessor*>(handle)->Encode(std::string_view(text, n), &v);
  if (!st.ok()) return fail(err, errn, st.error_message());
  *nids = v.size();
  *ids = static_cast<int32_t*>(std::malloc(std::max<size_t>(1, v.size()) * sizeof(int32_t)));
  for (size_t i = 0; i < v.size(); ++i) (*ids)[i] = v[i];
  return 0;
}

__attribute__((visibility("default"))) int moescope_spm_decode(void* handle, const int32_t* ids, size_t n, char** out,
                                                               size_t* outn, char* err, size_t errn) {
  std::string s;
  auto st = static_cast<sentencepiece::SentencePieceProcessor*>(handle)->Decode(std::vector<int>(ids, ids + n), &s);
  if (!st.ok()) return fail(err, errn, st.error_message());
  *outn = s.size();
  *out = static_cast<char*>(std::malloc(std::max<size_t>(1, s.size())));
  std::memcpy(*out, s.data(), s.size());
  return 0;
}

__attribute__((visibility("default"))) int moescope_spm_piece_size(void* handle) {
  return static_cast<sentencepiece::SentencePieceProcessor*>(handle)->GetPieceSize();
}

__attribute__((visibility("default"))) void moescope_spm_piece(void* handle, int id, const char** piece, size_t* len,
                                                               float* score, int* flags) {
  auto* sp = static_cast<sentencepiece::SentencePieceProcessor*>(handle);
  const std::string& p = sp->IdToPiece(id);
  *piece = p.data();
  *len = p.size();
  *score = sp->GetScore(id);
  *flags = (sp->IsUnknown(id) ? 1 : 0) | (sp->IsControl(id) ? 2 : 0) | (sp->IsByte(id) ? 4 : 0);
}

__attribute__((visibility("default"))) void moescope_spm_free_buf(void* buf) { std::free(buf); }

}  // extern "C"
