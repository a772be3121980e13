// decoder.cpp: tokenizer.json decoders (see decoder.h).
#include "hf/decoder.h"

#include "hf/tokenizer_fields.h"
#include "hf/pretokenizer.h"
#include "hf/unicode_norm.h"
#include "core/str_edit.h"

namespace moescope {
namespace {

using hf::json;

// TextDecoder("utf-8").decode(bytes): invalid sequences become U+FFFD; a leading BOM is
// dropped unless keep_bom.
std::string decode_bytes(const std::string& bytes, bool keep_bom) {
  if (!keep_bom && bytes.rfind("\xEF\xBB\xBF", 0) == 0) return utf8_sanitise(std::string_view(bytes).substr(3));
  return utf8_sanitise(bytes);
}

class Sequence : public HfDecoder {
 public:
  explicit Sequence(std::vector<std::unique_ptr<HfDecoder>> parts) : parts_(std::move(parts)) {}
  std::vector<std::string> decode_chain(std::vector<std::string> t) const override {
    for (const auto& p : parts_) t = p->decode_chain(std::move(t));
    return t;
  }

 private:
  std::vector<std::unique_ptr<HfDecoder>> parts_;
};

class ByteLevel : public HfDecoder {
 public:
  explicit ByteLevel(const std::unordered_set<std::string>* added) : added_(added) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    std::vector<std::string> out;
    std::string run;
    bool have_run = false;
    auto flush = [&] {
      if (!have_run) return;
      std::vector<uint32_t> cps;
      utf8_to_code_points(run, &cps);
      std::string bytes;
      bytes.reserve(cps.size());
      for (uint32_t cp : cps) {
        const int b = unicode_to_byte(cp);
        bytes += static_cast<char>(b < 0 ? 0 : b);  // the reference's Uint8Array turns unknowns into 0
      }
      out.push_back(decode_bytes(bytes, /*keep_bom=*/true));
      run.clear();
      have_run = false;
    };
    for (std::string& t : tokens) {
      if (added_ && added_->count(t)) {
        flush();
        out.push_back(std::move(t));
      } else {
        run += t;
        have_run = true;
      }
    }
    flush();
    return out;
  }

 private:
  const std::unordered_set<std::string>* added_;
};

class ByteFallback : public HfDecoder {
 public:
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    std::vector<std::string> out;
    std::string bytes;
    bool have = false;
    auto hexval = [](char c) {
      return c >= '0' && c <= '9' ? c - '0' : (c | 32) >= 'a' && (c | 32) <= 'f' ? (c | 32) - 'a' + 10 : -1;
    };
    for (std::string& t : tokens) {
      int byte = -1;
      if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>') {
        const int hi = hexval(t[3]), lo = hexval(t[4]);
        if (hi >= 0) byte = lo >= 0 ? hi * 16 + lo : hi;  // parseInt reads the hex prefix
      }
      if (byte >= 0) {
        bytes += static_cast<char>(byte);
        have = true;
        continue;
      }
      if (have) out.push_back(decode_bytes(bytes, false)), bytes.clear(), have = false;
      out.push_back(std::move(t));
    }
    if (have) out.push_back(decode_bytes(bytes, false));
    return out;
  }
};

class Fuse : public HfDecoder {
 public:
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    std::string all;
    for (const auto& t : tokens) all += t;
    return {all};
  }
};

class Strip : public HfDecoder {
 public:
  Strip(std::string content, size_t start, size_t stop) : content_(std::move(content)), start_(start), stop_(stop) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (std::string& t : tokens) {
      std::vector<uint32_t> cps, offs;
      utf8_to_code_points(t, &cps, &offs);
      auto is = [&](size_t i) { return t.compare(offs[i], offs[i + 1] - offs[i], content_) == 0; };
      size_t b = 0, e = cps.size();
      for (size_t i = 0; i < start_ && b < cps.size() && is(b); ++i) ++b;
      for (size_t i = 0; i < stop_ && e > 0 && is(e - 1); ++i) --e;
      t = b < e ? t.substr(offs[b], offs[e] - offs[b]) : std::string();
    }
    return tokens;
  }

 private:
  std::string content_;
  size_t start_, stop_;
};

class Replace : public HfDecoder {
 public:
  Replace(HfRegex re, std::string content) : re_(std::move(re)), content_(std::move(content)) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (std::string& t : tokens) {
      std::vector<uint32_t> cps, offs;
      utf8_to_code_points(t, &cps, &offs);
      std::vector<std::pair<uint32_t, uint32_t>> m;
      re_.find_all(cps.data(), cps.size(), &m);
      if (m.empty()) continue;
      std::string out;
      size_t prev = 0;
      for (const auto& [b, e] : m) {
        out.append(t, prev, offs[b] - prev);
        out += content_;
        prev = offs[e];
      }
      out.append(t, prev, std::string::npos);
      t = std::move(out);
    }
    return tokens;
  }

 private:
  HfRegex re_;
  std::string content_;
};

class Metaspace : public HfDecoder {
 public:
  Metaspace(std::string replacement, bool add_prefix_space)
      : replacement_(std::move(replacement)), add_prefix_space_(add_prefix_space) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      replace_all(tokens[i], replacement_, " ");
      if (add_prefix_space_ && i == 0 && tokens[i].rfind(' ', 0) == 0) tokens[i].erase(0, 1);
    }
    return tokens;
  }

 private:
  std::string replacement_;
  bool add_prefix_space_;
};

size_t opt_size(const json& j, const char* key, const std::string& where, size_t def) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  if (!it->is_number_unsigned()) hf::bad(where + "." + key, "expected a non-negative integer");
  return it->get<size_t>();
}

}  // namespace

std::string HfDecoder::decode(std::vector<std::string> tokens) const {
  std::string out;
  for (const auto& t : decode_chain(std::move(tokens))) out += t;
  return out;
}

std::unique_ptr<HfDecoder> HfDecoder::from_json(const json& j, const std::string& where,
                                                const std::unordered_set<std::string>* added) {
  if (j.is_null()) return nullptr;
  const std::string type = hf::type_of(j, where);
  if (type == "Sequence") {
    const json& list = hf::need(j, "decoders", where);
    if (!list.is_array()) hf::bad(where + ".decoders", "expected an array");
    std::vector<std::unique_ptr<HfDecoder>> parts;
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string w = where + ".decoders[" + std::to_string(i) + "]";
      if (list[i].is_null()) hf::bad(w, "null decoder");
      parts.push_back(from_json(list[i], w, added));
    }
    return std::make_unique<Sequence>(std::move(parts));
  }
  if (type == "ByteLevel") return std::make_unique<ByteLevel>(added);
  if (type == "ByteFallback") return std::make_unique<ByteFallback>();
  if (type == "Fuse") return std::make_unique<Fuse>();
  if (type == "Strip")
    return std::make_unique<Strip>(hf::need_string(j, "content", where), opt_size(j, "start", where, 0),
                                   opt_size(j, "stop", where, 0));
  if (type == "Replace") {
    const std::string content = hf::need_string(j, "content", where);
    if (content.find('$') != std::string::npos)
      hf::bad(where + ".content", "'$' in a Replace content (a JavaScript replacement pattern) is not supported");
    return std::make_unique<Replace>(hf::need_pattern(j, "pattern", where), content);
  }
  if (type == "Metaspace")
    return std::make_unique<Metaspace>(hf::need_string(j, "replacement", where),
                                       hf::opt_bool(j, "add_prefix_space", where, false));
  hf::bad(where, "unsupported decoder type '" + type +
                     "' (supported: Sequence, ByteLevel, ByteFallback, Fuse, Strip, Replace, Metaspace)");
}

}  // namespace moescope
