// pretokenizer.cpp: tokenizer.json pre-tokenisers (see pretokenizer.h).
#include "hf/pretokenizer.h"

#include <array>

#include "hf/tokenizer_fields.h"
#include "hf/regex.h"
#include "core/utf8.h"
#include "hf/unicode_norm.h"

namespace moescope {
namespace {

using hf::json;

struct ByteMap {
  std::array<uint32_t, 256> to_cp{};
  std::array<int, 324> to_byte{};
  std::array<std::string, 256> utf8;  // to_cp as UTF-8
  ByteMap() {
    to_byte.fill(-1);
    uint32_t n = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      to_cp[b] = printable ? uint32_t(b) : 256 + n++;
      to_byte[to_cp[b]] = b;
      utf8_append(utf8[b], to_cp[b]);
    }
  }
};

const ByteMap& byte_map() {
  static const ByteMap m;
  return m;
}

// Cuts `text` at the matches of `re`: gaps and matches alternate (JavaScript regexSplit), or
// only gaps (keep_matches false: String.prototype.split, empty strings dropped), or only matches.
enum class Keep { Both, Gaps, Matches };
void regex_split(const HfRegex& re, const std::string& text, Keep keep, std::vector<std::string>* out) {
  std::vector<uint32_t> cps, offs;
  utf8_to_code_points(text, &cps, &offs);
  std::vector<std::pair<uint32_t, uint32_t>> m;
  re.find_all(cps.data(), cps.size(), &m);
  size_t prev = 0;
  for (const auto& [b, e] : m) {
    if (keep == Keep::Matches) {
      if (e > b) out->push_back(text.substr(offs[b], offs[e] - offs[b]));
      continue;
    }
    if (prev < b) out->push_back(text.substr(offs[prev], offs[b] - offs[prev]));
    if (keep == Keep::Both && e > b) out->push_back(text.substr(offs[b], offs[e] - offs[b]));
    prev = e;
  }
  if (keep != Keep::Matches && prev < cps.size()) out->push_back(text.substr(offs[prev]));
}

class PerPiece : public HfPreTokenizer {
 public:
  void pre_tokenize(std::vector<std::string>* pieces, size_t section_index) const override {
    std::vector<std::string> out;
    out.reserve(pieces->size());
    for (const std::string& p : *pieces) split(p, section_index, &out);
    *pieces = std::move(out);
  }
  virtual void split(const std::string& piece, size_t section_index, std::vector<std::string>* out) const = 0;
};

class Sequence : public HfPreTokenizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<HfPreTokenizer>> parts) : parts_(std::move(parts)) {}
  void pre_tokenize(std::vector<std::string>* pieces, size_t section_index) const override {
    for (const auto& p : parts_) p->pre_tokenize(pieces, section_index);
  }

 private:
  std::vector<std::unique_ptr<HfPreTokenizer>> parts_;
};

class Split : public PerPiece {
 public:
  Split(HfRegex re, Keep keep) : re_(std::move(re)), keep_(keep) {}
  void split(const std::string& piece, size_t, std::vector<std::string>* out) const override {
    regex_split(re_, piece, keep_, out);
  }

 private:
  HfRegex re_;
  Keep keep_;
};

class ByteLevel : public PerPiece {
 public:
  ByteLevel(bool add_prefix_space, bool use_regex) : add_prefix_space_(add_prefix_space) {
    if (use_regex)
      re_ = std::make_unique<HfRegex>(
          "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+");
  }
  void split(const std::string& piece, size_t, std::vector<std::string>* out) const override {
    std::string text = add_prefix_space_ && piece.rfind(' ', 0) != 0 ? " " + piece : piece;
    std::vector<std::string> parts;
    if (re_) regex_split(*re_, text, Keep::Matches, &parts);
    else parts.push_back(std::move(text));
    const ByteMap& bm = byte_map();
    for (const std::string& p : parts) {
      std::string mapped;
      mapped.reserve(p.size() * 2);
      for (unsigned char c : p) mapped += bm.utf8[c];
      out->push_back(std::move(mapped));
    }
  }

 private:
  bool add_prefix_space_;
  std::unique_ptr<HfRegex> re_;
};

class Metaspace : public PerPiece {
 public:
  Metaspace(std::string replacement, std::string str_rep, bool add_prefix_space, std::string scheme)
      : replacement_(std::move(replacement)),
        str_rep_(std::move(str_rep)),
        add_prefix_space_(add_prefix_space),
        scheme_(std::move(scheme)) {}
  void split(const std::string& piece, size_t section_index, std::vector<std::string>* out) const override {
    std::string s;
    for (char c : piece) {
      if (c == ' ') s += str_rep_;
      else s += c;
    }
    if (add_prefix_space_ && s.rfind(replacement_, 0) != 0 &&
        (scheme_ == "always" || (scheme_ == "first" && section_index == 0)))
      s = str_rep_ + s;
    out->push_back(std::move(s));
  }

 private:
  std::string replacement_, str_rep_;
  bool add_prefix_space_;
  std::string scheme_;
};

}  // namespace

uint32_t byte_to_unicode(uint8_t b) { return byte_map().to_cp[b]; }
int unicode_to_byte(uint32_t cp) { return cp < 324 ? byte_map().to_byte[cp] : -1; }

std::unique_ptr<HfPreTokenizer> HfPreTokenizer::from_json(const json& j, const std::string& where) {
  if (j.is_null()) return nullptr;
  const std::string type = hf::type_of(j, where);
  if (type == "Sequence") {
    const json& list = hf::need(j, "pretokenizers", where);
    if (!list.is_array()) hf::bad(where + ".pretokenizers", "expected an array");
    std::vector<std::unique_ptr<HfPreTokenizer>> parts;
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string w = where + ".pretokenizers[" + std::to_string(i) + "]";
      if (list[i].is_null()) hf::bad(w, "null pre-tokenizer");
      parts.push_back(from_json(list[i], w));
    }
    return std::make_unique<Sequence>(std::move(parts));
  }
  if (type == "Split") {
    if (hf::opt_bool(j, "invert", where, false)) hf::bad(where + ".invert", "invert = true is not supported");
    const std::string behavior = hf::opt_string(j, "behavior", where, "Isolated");
    Keep keep;
    if (behavior == "Isolated") keep = Keep::Both;
    else if (behavior == "Removed") keep = Keep::Gaps;
    else hf::bad(where + ".behavior", "unsupported Split behavior '" + behavior + "' (supported: Isolated, Removed)");
    return std::make_unique<Split>(hf::need_pattern(j, "pattern", where), keep);
  }
  if (type == "ByteLevel")
    return std::make_unique<ByteLevel>(hf::opt_bool(j, "add_prefix_space", where, false),
                                       hf::opt_bool(j, "use_regex", where, true));
  if (type == "Metaspace") {
    const std::string rep = hf::need_string(j, "replacement", where);
    const std::string scheme = hf::opt_string(j, "prepend_scheme", where, "always");
    if (scheme != "always" && scheme != "first" && scheme != "never")
      hf::bad(where + ".prepend_scheme", "unknown prepend_scheme '" + scheme + "'");
    return std::make_unique<Metaspace>(rep, hf::opt_string(j, "str_rep", where, rep),
                                       hf::opt_bool(j, "add_prefix_space", where, false), scheme);
  }
  if (type == "WhitespaceSplit") return std::make_unique<Split>(HfRegex("\\S+"), Keep::Matches);
  if (type == "Whitespace") return std::make_unique<Split>(HfRegex("\\w+|[^\\w\\s]+"), Keep::Matches);
  hf::bad(where, "unsupported pre-tokenizer type '" + type +
                     "' (supported: Sequence, Split, ByteLevel, Metaspace, Whitespace, WhitespaceSplit)");
}

}  // namespace moescope
