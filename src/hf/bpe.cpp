// bpe.cpp: the tokenizer.json BPE model (see bpe.h).
#include "hf/bpe.h"

#include <algorithm>
#include <cstdio>
#include <queue>

#include "hf/tokenizer_fields.h"
#include "hf/unicode_norm.h"

namespace moescope {
namespace {

using hf::json;

constexpr size_t kMaxCachedPiece = 256;
constexpr size_t kMaxCacheEntries = 1 << 17;

// Length of the UTF-8 sequence starting with lead byte c (valid UTF-8 assumed).
size_t utf8_len(unsigned char c) { return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4; }

uint32_t decode_at(const std::string& s, size_t i, size_t len) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data()) + i;
  switch (len) {
    case 1: return p[0];
    case 2: return (p[0] & 0x1Fu) << 6 | (p[1] & 0x3Fu);
    case 3: return (p[0] & 0x0Fu) << 12 | (p[1] & 0x3Fu) << 6 | (p[2] & 0x3Fu);
    default: return (p[0] & 0x07u) << 18 | (p[1] & 0x3Fu) << 12 | (p[2] & 0x3Fu) << 6 | (p[3] & 0x3Fu);
  }
}

}  // namespace

void HfBpe::MergeTable::reserve(size_t n) {
  size_t cap = 16;
  while (cap < 2 * n) cap *= 2;
  keys_.assign(cap, kEmpty);
  vals_.assign(cap, Merge{0, 0});
  shift_ = 64 - __builtin_ctzll(cap);
  size_ = 0;
}

void HfBpe::MergeTable::set(uint64_t key, Merge m) {
  if (2 * (size_ + 1) > keys_.size()) {
    std::vector<uint64_t> keys = std::move(keys_);
    std::vector<Merge> vals = std::move(vals_);
    reserve(std::max<size_t>(16, keys.size()));
    for (size_t i = 0; i < keys.size(); ++i)
      if (keys[i] != kEmpty) set(keys[i], vals[i]);
  }
  const size_t mask = keys_.size() - 1;
  for (size_t i = slot(key);; i = (i + 1) & mask) {
    if (keys_[i] == key) {
      vals_[i] = m;  // a repeated pair: the later merge wins, as in the reference's Map
      return;
    }
    if (keys_[i] == kEmpty) {
      keys_[i] = key;
      vals_[i] = m;
      ++size_;
      return;
    }
  }
}

const HfBpe::Merge* HfBpe::MergeTable::find(uint64_t key) const {
  if (keys_.empty()) return nullptr;
  const size_t mask = keys_.size() - 1;
  for (size_t i = slot(key);; i = (i + 1) & mask) {
    if (keys_[i] == key) return &vals_[i];
    if (keys_[i] == kEmpty) return nullptr;
  }
}

std::unique_ptr<HfBpe> HfBpe::from_json(const json& m, const std::string& where) {
  if (!m.is_object()) hf::bad(where, "expected a JSON object");
  std::string type = hf::opt_string(m, "type", where);
  if (type.empty() && m.contains("merges")) type = "BPE";
  if (type.empty()) hf::bad(where, "missing field \"type\"");
  if (type != "BPE") hf::bad(where + ".type", "unsupported model type '" + type + "' (supported: BPE)");
  for (const char* k : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (!hf::opt_string(m, k, where).empty()) hf::bad(where + "." + k, "a non-empty value is not supported");
  if (m.contains("dropout") && !m["dropout"].is_null() && !(m["dropout"].is_number() && m["dropout"] == 0))
    hf::bad(where + ".dropout", "BPE dropout is not supported");

  std::unique_ptr<HfBpe> bpe(new HfBpe());
  const json& vocab = hf::need(m, "vocab", where);
  if (!vocab.is_object()) hf::bad(where + ".vocab", "expected an object of token -> id");
  bpe->tok2id_.reserve(vocab.size());
  // Ids index a table: an id far past the vocabulary's size would allocate gigabytes.
  const int64_t id_limit = int64_t(vocab.size()) + kMaxIdGap;
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0 || it.value().get<int64_t>() > INT32_MAX)
      hf::bad(where + ".vocab", "token '" + it.key() + "' has id " + it.value().dump() + " (not an id >= 0)");
    if (it.value().get<int64_t>() >= id_limit)
      hf::bad(where + ".vocab", "token '" + it.key() + "' has id " + it.value().dump() + ", far past the " +
                                    std::to_string(vocab.size()) + " tokens of the vocabulary (ids must be below " +
                                    std::to_string(id_limit) + ")");
    bpe->set_token(it.key(), it.value().get<int32_t>());
  }
  if (bpe->tok2id_.empty()) hf::bad(where + ".vocab", "empty vocabulary");

  const json& merges = hf::need(m, "merges", where);
  if (!merges.is_array()) hf::bad(where + ".merges", "expected an array");
  bpe->merges_.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    const json& e = merges[i];
    const std::string w = where + ".merges[" + std::to_string(i) + "]";
    std::string a, b;
    if (e.is_string()) {
      const std::string s = e.get<std::string>();
      const size_t sp = s.find(' ');
      if (sp == std::string::npos) hf::bad(w, "'" + s + "' is not two tokens separated by a space");
      a = s.substr(0, sp);
      const size_t sp2 = s.find(' ', sp + 1);  // the reference keeps the first two parts
      b = s.substr(sp + 1, sp2 == std::string::npos ? std::string::npos : sp2 - sp - 1);
    } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
      a = e[0].get<std::string>();
      b = e[1].get<std::string>();
    } else {
      hf::bad(w, "expected \"a b\" or [\"a\", \"b\"], got " + e.dump());
    }
    const auto ia = bpe->tok2id_.find(a), ib = bpe->tok2id_.find(b), im = bpe->tok2id_.find(a + b);
    for (const auto& [it, name] : {std::make_pair(ia, &a), std::make_pair(ib, &b)})
      if (it == bpe->tok2id_.end())
        hf::bad(w, "merge '" + a + " " + b + "' names token '" + *name + "', which is not in the vocabulary");
    if (im == bpe->tok2id_.end())
      hf::bad(w, "merge '" + a + " " + b + "' makes token '" + a + b + "', which is not in the vocabulary");
    bpe->merges_.set(uint64_t(uint32_t(ia->second)) << 32 | uint32_t(ib->second), Merge{uint32_t(i), im->second});
  }

  bpe->unk_token_ = hf::opt_string(m, "unk_token", where);
  if (!bpe->unk_token_.empty()) {
    auto it = bpe->tok2id_.find(bpe->unk_token_);
    if (it == bpe->tok2id_.end()) hf::bad(where + ".unk_token", "'" + bpe->unk_token_ + "' is not in the vocabulary");
    bpe->unk_ = it->second;
  }
  bpe->byte_fallback_ = hf::opt_bool(m, "byte_fallback", where, false);
  bpe->fuse_unk_ = hf::opt_bool(m, "fuse_unk", where, false);
  bpe->ignore_merges_ = hf::opt_bool(m, "ignore_merges", where, false);
  for (int byte = 0; byte < 256; ++byte) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", byte);
    auto it = bpe->tok2id_.find(name);
    bpe->byte_ids_[byte] = it == bpe->tok2id_.end() ? -1 : it->second;
  }
  return bpe;
}

void HfBpe::set_token(const std::string& tok, int32_t id) {
  tok2id_[tok] = id;
  if (static_cast<size_t>(id) >= id2tok_.size()) {
    id2tok_.resize(static_cast<size_t>(id) + 1);
    assigned_.resize(static_cast<size_t>(id) + 1, false);
  }
  id2tok_[id] = tok;
  assigned_[id] = true;
  if (bmp_id_.empty()) bmp_id_.assign(0x10000, -1);
  if (!tok.empty() && utf8_len(static_cast<unsigned char>(tok[0])) == tok.size() && tok.size() <= 3)
    bmp_id_[decode_at(tok, 0, tok.size())] = id;
}

void HfBpe::add_token(const std::string& content, int32_t id) {
  if (id < 0) throw std::invalid_argument("added token '" + content + "' has a negative id");
  if (int64_t(id) >= int64_t(id2tok_.size()) + kMaxIdGap)
    throw std::invalid_argument("added token '" + content + "' has id " + std::to_string(id) +
                                ", far past the vocabulary (ids must be below " +
                                std::to_string(int64_t(id2tok_.size()) + kMaxIdGap) + ")");
  set_token(content, id);
  std::lock_guard<std::mutex> lock(cache_mu_);
  cache_.clear();
}

std::optional<int32_t> HfBpe::id_of(const std::string& token) const {
  auto it = tok2id_.find(token);
  if (it == tok2id_.end()) return std::nullopt;
  return it->second;
}

const std::string* HfBpe::token_of(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= id2tok_.size() || !assigned_[id]) return nullptr;
  return &id2tok_[id];
}

int32_t HfBpe::char_id(const std::string& piece, uint32_t cp, size_t b, size_t e) const {
  if (cp < 0x10000) return bmp_id_[cp];
  auto it = tok2id_.find(piece.substr(b, e - b));
  return it == tok2id_.end() ? -1 : it->second;
}

void HfBpe::encode_piece(const std::string& piece, std::vector<int32_t>* out) const {
  if (piece.empty()) return;
  if (ignore_merges_) {
    auto it = tok2id_.find(piece);
    if (it != tok2id_.end()) {
      out->push_back(it->second);
      return;
    }
  }
  struct Sym {
    int32_t id;
    uint32_t b, e;
    int32_t prev, next;
  };
  std::vector<Sym> sym;
  sym.reserve(piece.size());
  for (size_t i = 0; i < piece.size();) {
    const size_t len = utf8_len(static_cast<unsigned char>(piece[i]));
    const int32_t n = static_cast<int32_t>(sym.size());
    sym.push_back({char_id(piece, decode_at(piece, i, len), i, i + len), uint32_t(i), uint32_t(i + len), n - 1, n + 1});
    i += len;
  }
  sym.back().next = -1;

  struct Cand {
    uint32_t rank;
    int32_t pos, left, right, merged;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> heap;
  auto consider = [&](int32_t i) {
    const int32_t j = sym[i].next;
    if (j < 0 || sym[i].id < 0 || sym[j].id < 0) return;
    const Merge* m = merges_.find(uint64_t(uint32_t(sym[i].id)) << 32 | uint32_t(sym[j].id));
    if (m) heap.push({m->rank, i, sym[i].id, sym[j].id, m->merged});
  };
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(sym.size()); ++i) consider(i);
  while (!heap.empty()) {
    const Cand c = heap.top();
    heap.pop();
    Sym& l = sym[c.pos];
    if (l.id != c.left || l.next < 0 || sym[l.next].id != c.right) continue;  // stale
    Sym& r = sym[l.next];
    l.id = c.merged;
    l.e = r.e;
    l.next = r.next;
    if (r.next >= 0) sym[r.next].prev = c.pos;
    r.id = -2;  // dead
    if (l.prev >= 0) consider(l.prev);
    consider(c.pos);
  }
  for (int32_t i = 0; i >= 0; i = sym[i].next) {
    const Sym& s = sym[i];
    if (s.id >= 0) {
      out->push_back(s.id);
      continue;
    }
    bool done = false;
    if (byte_fallback_) {
      done = true;
      for (uint32_t k = s.b; k < s.e; ++k) done = done && byte_ids_[static_cast<unsigned char>(piece[k])] >= 0;
      if (done)
        for (uint32_t k = s.b; k < s.e; ++k) out->push_back(byte_ids_[static_cast<unsigned char>(piece[k])]);
    }
    if (!done) {
      if (!unk_)
        throw std::runtime_error("hf tokenizer: '" + piece.substr(s.b, s.e - s.b) +
                                 "' is not in the vocabulary and the model has no unk_token");
      out->push_back(*unk_);
    }
  }
}

void HfBpe::encode(const std::vector<std::string>& pieces, std::vector<int32_t>* out) const {
  const size_t start = out->size();
  for (const std::string& p : pieces) {
    if (p.size() > kMaxCachedPiece) {
      encode_piece(p, out);
      continue;
    }
    {
      std::lock_guard<std::mutex> lock(cache_mu_);
      auto it = cache_.find(p);
      if (it != cache_.end()) {
        out->insert(out->end(), it->second.begin(), it->second.end());
        continue;
      }
    }
    const size_t before = out->size();
    encode_piece(p, out);
    std::lock_guard<std::mutex> lock(cache_mu_);
    if (cache_.size() >= kMaxCacheEntries) cache_.clear();
    cache_.emplace(p, std::vector<int32_t>(out->begin() + before, out->end()));
  }
  if (fuse_unk_ && unk_) {
    size_t w = start;
    for (size_t i = start; i < out->size(); ++i) {
      if ((*out)[i] == *unk_ && w > start && (*out)[w - 1] == *unk_) continue;
      (*out)[w++] = (*out)[i];
    }
    out->resize(w);
  }
}

}  // namespace moescope
