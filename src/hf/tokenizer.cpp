// tokenizer.cpp: loading tokenizer.json + tokenizer_config.json, added-token splitting,
// encode / decode (see tokenizer.h).
#include "hf/tokenizer.h"

#include <filesystem>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "io/atomic_file.h"
#include "io/json_guard.h"
#include "hf/bpe.h"
#include "hf/decoder.h"
#include "hf/tokenizer_fields.h"
#include "hf/normalizer.h"
#include "hf/pretokenizer.h"
#include "hf/unicode_norm.h"
#include "core/fnv_hash.h"
#include "core/str_edit.h"

namespace moescope {
namespace {

namespace fs = std::filesystem;
using hf::json;

const char* const kSpieceUnderline = "\xE2\x96\x81";  // U+2581

// A token named by tokenizer_config.json: a string, an {"__type": "AddedToken", "content": ..}
// object, or null/absent (empty result).
std::string config_token(const json& cfg, const char* key) {
  auto it = cfg.find(key);
  if (it == cfg.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->value("__type", "") == "AddedToken" && it->contains("content") &&
      (*it)["content"].is_string())
    return (*it)["content"].get<std::string>();
  hf::bad(std::string("tokenizer_config.json.") + key, "expected a token string or an AddedToken, got " + it->dump());
}

std::string clean_up_tokenization(std::string s) {
  static const std::pair<const char*, const char*> kRules[] = {
      {" .", "."},     {" ?", "?"},   {" !", "!"},   {" ,", ","},     {" ' ", "'"},
      {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
  for (const auto& [from, to] : kRules) replace_all(s, from, to);
  return s;
}

// The special tokens the post_processor's single-sequence template puts before and after
// the text (TemplateProcessing); nothing for ByteLevel or no post_processor.
void template_specials(const json& pp, const HfBpe& model, std::vector<int32_t>* before, std::vector<int32_t>* after) {
  if (pp.is_null()) return;
  const std::string where = "post_processor";
  const std::string type = hf::type_of(pp, where);
  if (type == "ByteLevel") return;
  if (type == "Sequence") {
    const json& list = hf::need(pp, "processors", where);
    for (const json& p : list) template_specials(p, model, before, after);
    return;
  }
  if (type != "TemplateProcessing")
    hf::bad(where,
            "unsupported post_processor type '" + type + "' (supported: TemplateProcessing, ByteLevel, Sequence)");
  const json& single = hf::need(pp, "single", where);
  if (!single.is_array()) hf::bad(where + ".single", "expected an array");
  bool seen_a = false;
  for (const json& item : single) {
    if (item.contains("Sequence")) {
      seen_a = true;
    } else if (item.contains("SpecialToken")) {
      const std::string tok = hf::need_string(item["SpecialToken"], "id", where + ".single");
      auto id = model.id_of(tok);
      if (!id) hf::bad(where + ".single", "special token '" + tok + "' is not in the vocabulary");
      (seen_a ? after : before)->push_back(*id);
    } else {
      hf::bad(where + ".single", "unexpected template item " + item.dump());
    }
  }
}

}  // namespace

HfTokenizer::HfTokenizer() = default;
HfTokenizer::~HfTokenizer() = default;

std::unique_ptr<HfTokenizer> HfTokenizer::load(const std::string& path) {
  std::error_code ec;
  fs::path file = path;
  if (fs::is_directory(file, ec)) file /= "tokenizer.json";
  if (!fs::exists(file, ec)) throw std::runtime_error("hf tokenizer '" + path + "': " + file.string() + " not found");
  const std::string text = read_file(file.string());
  const fs::path cfg = file.parent_path() / "tokenizer_config.json";
  const std::string cfg_text = fs::exists(cfg, ec) ? read_file(cfg.string()) : std::string();
  return from_text(text, cfg_text, file.string());
}

std::unique_ptr<HfTokenizer> HfTokenizer::from_text(const std::string& tokenizer_json, const std::string& config_text,
                                                    const std::string& name) {
  json j;
  if (!json_depth_error(tokenizer_json).empty())
    throw std::runtime_error(name + ": not valid JSON: " + json_depth_error(tokenizer_json));
  try {
    j = json::parse(tokenizer_json);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for 1e999
    throw std::runtime_error(name + ": not valid JSON (truncated or corrupt?): " + e.what());
  }
  return from_parsed(j, tokenizer_json, config_text, name);
}

std::unique_ptr<HfTokenizer> HfTokenizer::from_parsed(const json& j, const std::string& tokenizer_json,
                                                      const std::string& config_text, const std::string& name) {
  std::unique_ptr<HfTokenizer> t(new HfTokenizer());
  t->json_text_ = tokenizer_json;
  t->config_text_ = config_text;
  t->fingerprint_ = hex64(hash_bytes(config_text, hash_bytes(std::string_view("\0", 1), hash_bytes(tokenizer_json))));
  try {
    if (!j.is_object()) hf::bad("tokenizer.json", "expected a JSON object");
    json cfg = json::object();
    if (!config_text.empty()) {
      try {
        if (!json_depth_error(config_text).empty())
          hf::bad("tokenizer_config.json", "not valid JSON: " + json_depth_error(config_text));
        cfg = json::parse(config_text);
      } catch (const json::exception& e) {
        hf::bad("tokenizer_config.json", std::string("not valid JSON: ") + e.what());
      }
      if (!cfg.is_object()) hf::bad("tokenizer_config.json", "expected a JSON object");
    }
    t->model_ = HfBpe::from_json(hf::need(j, "model", "tokenizer.json"), "model");

    const json& added = j.contains("added_tokens") && !j["added_tokens"].is_null() ? j["added_tokens"] : json::array();
    if (!added.is_array()) hf::bad("added_tokens", "expected an array");
    t->trie_.emplace_back();
    for (size_t i = 0; i < added.size(); ++i) {
      const std::string w = "added_tokens[" + std::to_string(i) + "]";
      const json& a = added[i];
      const json& idj = hf::need(a, "id", w);
      if (!idj.is_number_integer() || idj.get<int64_t>() < 0 || idj.get<int64_t>() > INT32_MAX)
        hf::bad(w + ".id", "expected an id >= 0, got " + idj.dump());
      Added ad{hf::need_string(a, "content", w), idj.get<int32_t>(), hf::opt_bool(a, "lstrip", w, false),
               hf::opt_bool(a, "rstrip", w, false)};
      if (ad.content.empty()) hf::bad(w + ".content", "empty added token");
      t->model_->add_token(ad.content, ad.id);
      if (hf::opt_bool(a, "special", w, false)) t->special_tokens_.insert(ad.content);
      t->added_contents_.insert(ad.content);
      int32_t node = 0;
      for (unsigned char c : ad.content) {
        int32_t next = -1;
        for (const auto& [k, v] : t->trie_[node].kids)
          if (k == c) next = v;
        if (next < 0) {
          next = static_cast<int32_t>(t->trie_.size());
          t->trie_[node].kids.emplace_back(c, next);
          t->trie_.emplace_back();
        }
        node = next;
      }
      t->trie_[node].added = static_cast<int32_t>(t->added_.size());
      t->added_.push_back(std::move(ad));
    }
    if (cfg.contains("additional_special_tokens") && cfg["additional_special_tokens"].is_array())
      for (const json& s : cfg["additional_special_tokens"])
        if (s.is_string()) t->special_tokens_.insert(s.get<std::string>());

    t->normalizer_ = HfNormalizer::from_json(j.value("normalizer", json()), "normalizer");
    t->pre_tokenizer_ = HfPreTokenizer::from_json(j.value("pre_tokenizer", json()), "pre_tokenizer");
    t->decoder_ = HfDecoder::from_json(j.value("decoder", json()), "decoder", &t->added_contents_);

    for (const char* k : {"remove_space", "do_lowercase_and_remove_accent"})
      if (cfg.value(k, false) == true) hf::bad(std::string("tokenizer_config.json.") + k, "true is not supported");
    t->clean_up_spaces_ =
        cfg.contains("clean_up_tokenization_spaces") && cfg["clean_up_tokenization_spaces"].is_boolean()
            ? cfg["clean_up_tokenization_spaces"].get<bool>()
            : true;
    const std::string cls = cfg.value("tokenizer_class", "");
    if ((cls == "LlamaTokenizer" || cls == "LlamaTokenizerFast") && cfg.contains("legacy") && cfg["legacy"] == false) {
      // The reference's LlamaTokenizer with legacy = false: no normalizer, a Metaspace
      // pre-tokenizer that prepends U+2581 to the first section only.
      t->llama_non_legacy_ = true;
      t->normalizer_.reset();
      t->pre_tokenizer_ = HfPreTokenizer::from_json(json{{"type", "Metaspace"},
                                                         {"replacement", kSpieceUnderline},
                                                         {"add_prefix_space", true},
                                                         {"prepend_scheme", "first"}},
                                                    "pre_tokenizer");
    }

    // BOS / EOS: tokenizer_config.json's add_bos_token / add_eos_token where given, else the
    // post_processor's template.
    std::vector<int32_t> before, after;
    template_specials(j.value("post_processor", json()), *t->model_, &before, &after);
    auto pick = [&](const char* flag, const char* key, const std::vector<int32_t>& tmpl) -> std::optional<int32_t> {
      if (cfg.contains(flag) && cfg[flag].is_boolean()) {
        if (!cfg[flag].get<bool>()) return std::nullopt;
        const std::string tok = config_token(cfg, key);
        if (tok.empty()) hf::bad(std::string("tokenizer_config.json.") + flag, std::string("true but no ") + key);
        auto id = t->model_->id_of(tok);
        if (!id) hf::bad(std::string("tokenizer_config.json.") + key, "'" + tok + "' is not in the vocabulary");
        return id;
      }
      if (tmpl.size() > 1) hf::bad("post_processor", "more than one special token on one side of the text");
      if (tmpl.empty()) return std::nullopt;
      return tmpl[0];
    };
    t->bos_ = pick("add_bos_token", "bos_token", before);
    t->eos_ = pick("add_eos_token", "eos_token", after);
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(name + ": " + e.what());
  } catch (const json::exception& e) {
    throw std::runtime_error(name + ": malformed field: " + e.what());
  }
  return t;
}

void HfTokenizer::encode_text(const std::string& text, std::vector<int32_t>* out) const {
  // Cut at added tokens: at each position the longest added token wins.
  struct Section {
    size_t b, e;
    int32_t added;  // index into added_, or -1
  };
  std::vector<Section> sections;
  size_t start = 0;
  for (size_t i = 0; i < text.size();) {
    int32_t node = 0, match = -1;
    size_t match_end = 0;
    for (size_t j = i; j < text.size(); ++j) {
      int32_t next = -1;
      for (const auto& [k, v] : trie_[node].kids)
        if (k == static_cast<unsigned char>(text[j])) next = v;
      if (next < 0) break;
      node = next;
      if (trie_[node].added >= 0) match = trie_[node].added, match_end = j + 1;
    }
    if (match < 0) {
      ++i;
      continue;
    }
    if (i > start) sections.push_back({start, i, -1});
    sections.push_back({i, match_end, match});
    i = start = match_end;
  }
  if (start < text.size()) sections.push_back({start, text.size(), -1});

  std::vector<std::string> texts(sections.size());
  for (size_t i = 0; i < sections.size(); ++i) texts[i] = text.substr(sections[i].b, sections[i].e - sections[i].b);
  auto trim = [](std::string& s, bool left) {
    std::vector<uint32_t> cps, offs;
    utf8_to_code_points(s, &cps, &offs);
    size_t b = 0, e = cps.size();
    if (left)
      while (b < e && is_js_space(cps[b])) ++b;
    else
      while (e > b && is_js_space(cps[e - 1])) --e;
    s = s.substr(offs[b], offs[e] - offs[b]);
  };
  for (size_t i = 0; i < sections.size(); ++i) {
    if (sections[i].added < 0) continue;
    const Added& a = added_[sections[i].added];
    if (a.lstrip && i > 0) trim(texts[i - 1], /*left=*/false);
    if (a.rstrip && i + 1 < sections.size()) trim(texts[i + 1], /*left=*/true);
  }

  std::vector<std::string> pieces;
  for (size_t i = 0; i < sections.size(); ++i) {
    if (texts[i].empty()) continue;
    if (sections[i].added >= 0) {
      out->push_back(added_[sections[i].added].id);
      continue;
    }
    std::string x = normalizer_ ? normalizer_->normalize(std::move(texts[i])) : std::move(texts[i]);
    if (x.empty()) continue;
    pieces.clear();
    pieces.push_back(std::move(x));
    if (pre_tokenizer_) pre_tokenizer_->pre_tokenize(&pieces, i);
    model_->encode(pieces, out);
  }
}

std::vector<int32_t> HfTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids;
  const std::string clean = utf8_sanitise(text);
  if (!llama_non_legacy_ || clean.empty()) {
    encode_text(clean, &ids);
    return ids;
  }
  std::string t = clean;
  replace_all(t, kSpieceUnderline, " ");
  encode_text(kSpieceUnderline + t, &ids);
  if (ids.size() > 1) {
    const std::string* first = model_->token_of(ids[0]);
    const std::string* second = model_->token_of(ids[1]);
    if (first && *first == kSpieceUnderline && second && special_tokens_.count(*second)) ids.erase(ids.begin());
  }
  return ids;
}

std::vector<int32_t> HfTokenizer::encode_with_special(std::string_view text) const {
  std::vector<int32_t> ids;
  if (bos_) ids.push_back(*bos_);
  const std::vector<int32_t> body = encode(text);
  ids.insert(ids.end(), body.begin(), body.end());
  if (eos_) ids.push_back(*eos_);
  return ids;
}

std::string HfTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    const std::string* t = model_->token_of(id);
    if (!t)
      throw std::invalid_argument("hf tokenizer: id " + std::to_string(id) +
                                  (id < 0 || id >= vocab_size()
                                       ? " is outside [0, " + std::to_string(vocab_size()) + ")"
                                       : " is not assigned to any token"));
    tokens.push_back(*t);
  }
  std::string text;
  if (decoder_) {
    text = decoder_->decode(std::move(tokens));
  } else {
    for (size_t i = 0; i < tokens.size(); ++i) text += (i ? " " : "") + tokens[i];
  }
  return clean_up_spaces_ ? clean_up_tokenization(std::move(text)) : text;
}

int64_t HfTokenizer::vocab_size() const { return model_->size(); }

std::optional<int32_t> HfTokenizer::token_to_id(const std::string& token) const { return model_->id_of(token); }
const std::string* HfTokenizer::id_to_token(int32_t id) const { return model_->token_of(id); }

void HfTokenizer::save(const std::string& dir) const {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw std::runtime_error("hf tokenizer: cannot create '" + dir + "': " + ec.message());
  if (!config_text_.empty()) write_file_atomic((fs::path(dir) / "tokenizer_config.json").string(), config_text_);
  write_file_atomic((fs::path(dir) / "tokenizer.json").string(), json_text_);
}

}  // namespace moescope
