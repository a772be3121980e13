// tokenizer.cpp: byte and char tokenizers, the factory and tokenizer.json I/O.
#include "data/tokenizer.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "io/atomic_file.h"
#include "io/json_guard.h"
#include "data/bpe_tokenizer.h"
#include "data/hf_bridge.h"
#include "data/token_file.h"
#include "core/utf8.h"

namespace moescope {
namespace {

using nlohmann::json;

[[noreturn]] void bad_id(const std::string& kind, int32_t id, int64_t vocab) {
  throw std::invalid_argument(kind + " tokenizer: cannot decode id " + std::to_string(id) + " (vocab size " +
                              std::to_string(vocab) + ")");
}

}  // namespace

// ---- byte ----

std::vector<int32_t> ByteTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids(text.size());
  for (size_t i = 0; i < text.size(); ++i) ids[i] = static_cast<unsigned char>(text[i]);
  return ids;
}

std::string ByteTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out(ids.size(), '\0');
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] > 255) bad_id("byte", ids[i], 256);
    out[i] = char(ids[i]);
  }
  return out;
}

void ByteTokenizer::save(const std::string& dir) const { write_tokenizer_json(dir, *this, json::object()); }

std::string ByteTokenizer::fingerprint() const { return hex64(hash_bytes("byte:256")); }

// ---- char ----

CharTokenizer::CharTokenizer(std::vector<uint32_t> code_points) : code_points_(std::move(code_points)) {
  std::sort(code_points_.begin(), code_points_.end());
  code_points_.erase(std::unique(code_points_.begin(), code_points_.end()), code_points_.end());
  std::fill(ascii_, ascii_ + 128, 0);
  for (size_t i = 0; i < code_points_.size(); ++i) {
    uint32_t cp = code_points_[i];
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      throw std::invalid_argument("char tokenizer: invalid code point " + std::to_string(cp));
    if (cp < 128) ascii_[cp] = int32_t(i + 1);
    else ids_[cp] = int32_t(i + 1);
  }
}

CharTokenizer CharTokenizer::from_corpus(std::string_view corpus) {
  std::vector<bool> seen(0x110000, false);
  std::vector<uint32_t> cps;
  for (size_t i = 0; i < corpus.size();) {
    uint32_t cp;
    i += utf8_decode_one(corpus.data() + i, corpus.size() - i, &cp);
    if (cp != kInvalidCodePoint && !seen[cp]) {
      seen[cp] = true;
      cps.push_back(cp);
    }
  }
  return CharTokenizer(std::move(cps));
}

std::vector<int32_t> CharTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      ids.push_back(ascii_[c]);
      ++i;
      continue;
    }
    uint32_t cp;
    i += utf8_decode_one(text.data() + i, text.size() - i, &cp);
    auto it = cp == kInvalidCodePoint ? ids_.end() : ids_.find(cp);
    ids.push_back(it == ids_.end() ? 0 : it->second);
  }
  return ids;
}

std::string CharTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  out.reserve(ids.size());
  for (int32_t id : ids) {
    if (id < 0 || id >= vocab_size()) bad_id("char", id, vocab_size());
    utf8_append(out, id == 0 ? 0xFFFDu : code_points_[size_t(id) - 1]);
  }
  return out;
}

void CharTokenizer::save(const std::string& dir) const {
  write_tokenizer_json(dir, *this, json{{"code_points", code_points_}});
}

std::string CharTokenizer::fingerprint() const {
  std::string s = "char:";
  for (uint32_t cp : code_points_)
    for (int b = 0; b < 4; ++b) s += char(cp >> (8 * b) & 0xFF);
  return hex64(hash_bytes(s));
}

// ---- factory and tokenizer.json ----

void write_tokenizer_json(const std::string& dir, const Tokenizer& tok, const json& extra) {
  json j = extra.is_object() ? extra : json::object();
  j["version"] = kTokenizerJsonVersion;
  j["kind"] = tok.kind();
  j["vocab_size"] = tok.vocab_size();
  j["fingerprint"] = tok.fingerprint();
  write_file_atomic((std::filesystem::path(dir) / "tokenizer.json").string(), j.dump(2) + "\n");
}

std::unique_ptr<Tokenizer> build_tokenizer(const std::string& kind, const std::string& corpus_path,
                                           int64_t bpe_vocab_size, const std::string& work_dir) {
  if (kind == "byte") return std::make_unique<ByteTokenizer>();
  if (kind == "char") return std::make_unique<CharTokenizer>(CharTokenizer::from_corpus(read_file(corpus_path)));
  if (kind == "bpe") return BpeTokenizer::train(corpus_path, bpe_vocab_size, work_dir);
  if (kind.rfind("hf:", 0) == 0) return std::make_unique<HfTokenizerAdapter>(HfTokenizer::load(kind.substr(3)));
  throw std::invalid_argument("unknown tokenizer kind '" + kind + "' (expected char, byte, bpe or hf:PATH)");
}

std::string tokenizer_file(const std::string& dir) {
  const std::filesystem::path d(dir), hf = d / "tokenizer.json", own = d / kMoescopeTokenizerFile;
  return (std::filesystem::exists(own) ? own : hf).string();
}

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& dir) {
  const std::string file = tokenizer_file(dir);
  const std::string text = read_file(file);
  json j = parse_json_guarded(text, file);  // parse_error, or out_of_range for 1e999
  auto fail = [&](const std::string& what) -> std::runtime_error { return std::runtime_error(file + ": " + what); };
  if (!j.is_object()) throw fail("not a JSON object");
  if (!j.contains("kind") && j.contains("model")) {  // a Hugging Face tokenizer.json
    const std::string cfg = (std::filesystem::path(dir) / "tokenizer_config.json").string();
    return std::make_unique<HfTokenizerAdapter>(
        HfTokenizer::from_parsed(j, text, std::filesystem::exists(cfg) ? read_file(cfg) : std::string(), file));
  }
  if (!j.contains("version") || !j["version"].is_number_integer()) throw fail("missing integer \"version\"");
  if (j["version"].get<int64_t>() != kTokenizerJsonVersion)
    throw fail("unsupported tokenizer.json version " + j["version"].dump() + " (this build reads version " +
               std::to_string(kTokenizerJsonVersion) + ")");
  if (!j.contains("kind") || !j["kind"].is_string()) throw fail("missing string \"kind\"");
  const std::string kind = j["kind"].get<std::string>();

  std::unique_ptr<Tokenizer> tok;
  try {
    if (kind == "byte") {
      tok = std::make_unique<ByteTokenizer>();
    } else if (kind == "char") {
      if (!j.contains("code_points") || !j["code_points"].is_array()) throw fail("missing array \"code_points\"");
      tok = std::make_unique<CharTokenizer>(j["code_points"].get<std::vector<uint32_t>>());
    } else if (kind == "bpe") {
      std::string model = j.value("model_file", std::string("tokenizer.model"));
      if (model.empty() || model.find('/') != std::string::npos) throw fail("invalid \"model_file\" '" + model + "'");
      tok = BpeTokenizer::from_model_file((std::filesystem::path(dir) / model).string());
    } else {
      throw fail("unknown tokenizer kind '" + kind + "' (expected char, byte or bpe)");
    }
  } catch (const json::exception& e) {
    throw fail(std::string("malformed field: ") + e.what());
  } catch (const std::invalid_argument& e) {
    throw fail(e.what());
  }
  if (j.contains("vocab_size") && j["vocab_size"] != tok->vocab_size())
    throw fail("vocab_size " + j["vocab_size"].dump() + " does not match the loaded vocabulary (" +
               std::to_string(tok->vocab_size()) + ")");
  if (j.contains("fingerprint") && j["fingerprint"] != tok->fingerprint())
    throw fail("fingerprint " + j["fingerprint"].dump() + " does not match the loaded vocabulary (" +
               tok->fingerprint() + "); the tokenizer files are inconsistent");
  return tok;
}

}  // namespace moescope
