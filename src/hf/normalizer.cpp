// normalizer.cpp: tokenizer.json normalisers (see normalizer.h).
#include "hf/normalizer.h"

#include <algorithm>
#include <vector>

#include "hf/tokenizer_fields.h"
#include "hf/unicode_norm.h"
#include "hf/unicode_tables.h"

namespace moescope {
namespace {

using hf::json;

class Sequence : public HfNormalizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<HfNormalizer>> parts) : parts_(std::move(parts)) {}
  std::string normalize(std::string text) const override {
    for (const auto& p : parts_) text = p->normalize(std::move(text));
    return text;
  }

 private:
  std::vector<std::unique_ptr<HfNormalizer>> parts_;
};

class Nfc : public HfNormalizer {
 public:
  std::string normalize(std::string text) const override { return nfc(text); }
};

class Nfd : public HfNormalizer {
 public:
  std::string normalize(std::string text) const override {
    std::vector<uint32_t> cps, out;
    utf8_to_code_points(text, &cps);
    for (uint32_t cp : cps) {
      // Full canonical decomposition (Hangul algorithmically), then canonical ordering.
      std::vector<uint32_t> stack{cp};
      while (!stack.empty()) {
        const uint32_t c = stack.back();
        stack.pop_back();
        uint32_t d[2];
        if (c >= 0xAC00 && c < 0xAC00 + 11172) {
          const uint32_t s = c - 0xAC00;
          out.push_back(0x1100 + s / 588);
          out.push_back(0x1161 + (s % 588) / 28);
          if (s % 28) out.push_back(0x11A7 + s % 28);
        } else if (const int k = canonical_decomposition(c, d)) {
          if (k == 2) stack.push_back(d[1]);
          stack.push_back(d[0]);
        } else {
          out.push_back(c);
        }
      }
    }
    for (size_t i = 0; i < out.size();) {
      size_t j = i;
      while (j < out.size() && canonical_combining_class(out[j]) != 0) ++j;
      std::stable_sort(out.begin() + i, out.begin() + j, [](uint32_t a, uint32_t b) {
        return canonical_combining_class(a) < canonical_combining_class(b);
      });
      i = j == i ? i + 1 : j;
    }
    return code_points_to_utf8(out.data(), out.size());
  }
};

class Prepend : public HfNormalizer {
 public:
  explicit Prepend(std::string p) : p_(std::move(p)) {}
  std::string normalize(std::string text) const override { return p_ + text; }

 private:
  std::string p_;
};

// String.prototype.replaceAll of a literal (a {"String": ..} pattern) by a literal.
class ReplaceLiteral : public HfNormalizer {
 public:
  ReplaceLiteral(std::string from, std::string to) : from_(std::move(from)), to_(std::move(to)) {}
  std::string normalize(std::string text) const override {
    size_t p = text.find(from_);
    if (p == std::string::npos) return text;
    std::string out;
    out.reserve(text.size() + text.size() / 4 * to_.size());
    size_t prev = 0;
    for (; p != std::string::npos; p = text.find(from_, prev)) {
      out.append(text, prev, p - prev);
      out += to_;
      prev = p + from_.size();
    }
    out.append(text, prev, std::string::npos);
    return out;
  }

 private:
  std::string from_, to_;
};

// String.prototype.replaceAll of a regex pattern by a literal.
class Replace : public HfNormalizer {
 public:
  Replace(HfRegex re, std::string content) : re_(std::move(re)), content_(std::move(content)) {}
  std::string normalize(std::string text) const override {
    std::vector<uint32_t> cps, offs;
    utf8_to_code_points(text, &cps, &offs);
    std::vector<std::pair<uint32_t, uint32_t>> m;
    re_.find_all(cps.data(), cps.size(), &m);
    if (m.empty()) return text;
    std::string out;
    size_t prev = 0;
    for (const auto& [b, e] : m) {
      out.append(text, prev, offs[b] - prev);
      out += content_;
      prev = offs[e];
    }
    out.append(text, prev, std::string::npos);
    return out;
  }

 private:
  HfRegex re_;
  std::string content_;
};

// String.prototype.trim / trimStart / trimEnd.
class Strip : public HfNormalizer {
 public:
  Strip(bool left, bool right) : left_(left), right_(right) {}
  std::string normalize(std::string text) const override {
    std::vector<uint32_t> cps, offs;
    utf8_to_code_points(text, &cps, &offs);
    size_t b = 0, e = cps.size();
    if (left_)
      while (b < e && is_js_space(cps[b])) ++b;
    if (right_)
      while (e > b && is_js_space(cps[e - 1])) --e;
    return text.substr(offs[b], offs[e] - offs[b]);
  }

 private:
  bool left_, right_;
};

}  // namespace

std::unique_ptr<HfNormalizer> HfNormalizer::from_json(const json& j, const std::string& where) {
  if (j.is_null()) return nullptr;
  const std::string type = hf::type_of(j, where);
  if (type == "Sequence") {
    const json& list = hf::need(j, "normalizers", where);
    if (!list.is_array()) hf::bad(where + ".normalizers", "expected an array");
    std::vector<std::unique_ptr<HfNormalizer>> parts;
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string w = where + ".normalizers[" + std::to_string(i) + "]";
      if (list[i].is_null()) hf::bad(w, "null normalizer");
      parts.push_back(from_json(list[i], w));
    }
    return std::make_unique<Sequence>(std::move(parts));
  }
  if (type == "NFC") return std::make_unique<Nfc>();
  if (type == "NFD") return std::make_unique<Nfd>();
  if (type == "Prepend") return std::make_unique<Prepend>(hf::need_string(j, "prepend", where));
  if (type == "Replace") {
    const std::string content = hf::need_string(j, "content", where);
    if (content.find('$') != std::string::npos)
      hf::bad(where + ".content", "'$' in a Replace content (a JavaScript replacement pattern) is not supported");
    HfRegex re = hf::need_pattern(j, "pattern", where);  // validates either form
    const hf::json& p = j["pattern"];
    if (p.contains("String")) return std::make_unique<ReplaceLiteral>(p["String"].get<std::string>(), content);
    return std::make_unique<Replace>(std::move(re), content);
  }
  if (type == "Strip")
    return std::make_unique<Strip>(hf::opt_bool(j, "strip_left", where, false),
                                   hf::opt_bool(j, "strip_right", where, false));
  hf::bad(where, "unsupported normalizer type '" + type + "' (supported: Sequence, NFC, NFD, Prepend, Replace, Strip)");
}

}  // namespace moescope
