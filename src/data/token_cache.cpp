// token_cache.cpp: see token_cache.h.
#include "data/token_cache.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <vector>

#include "core/clock.h"

namespace moescope {
namespace {

namespace fs = std::filesystem;

// Cuts `text` into chunks of about kChunk bytes, each ending after a newline where one is
// near (no BPE piece spans a newline, so this matches encoding the whole text) and otherwise
// at a UTF-8 boundary. A newline followed by a printable ASCII character is preferred: the
// split regexes of Hugging Face byte-level tokenizers never put one piece across it (runs of
// whitespace and newlines are pieces of their own).
std::vector<std::pair<size_t, size_t>> chunk_text(const std::string& text) {
  constexpr size_t kChunk = size_t(1) << 18;
  std::vector<std::pair<size_t, size_t>> chunks;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = pos + kChunk;
    if (end >= text.size()) {
      end = text.size();
    } else {
      const size_t limit = std::min(text.size(), end + kChunk);
      size_t cut = std::string::npos;
      for (size_t i = end; i + 1 < limit; ++i) {
        const unsigned char next = static_cast<unsigned char>(text[i + 1]);
        if (text[i] == '\n' && next > 0x20 && next < 0x7F) {
          cut = i + 1;
          break;
        }
      }
      const void* nl = std::memchr(text.data() + end, '\n', std::min(kChunk, text.size() - end));
      if (cut != std::string::npos) {
        end = cut;
      } else if (nl) {
        end = static_cast<size_t>(static_cast<const char*>(nl) - text.data()) + 1;
      } else {
        while (end > pos && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
        if (end == pos) end = pos + kChunk;
      }
    }
    chunks.emplace_back(pos, end);
    pos = end;
  }
  return chunks;
}

// Encodes the text chunk by chunk on several threads; the ids are concatenated in order.
std::vector<int32_t> tokenise(const Tokenizer& tok, const std::string& text) {
  const auto chunks = chunk_text(text);
  std::vector<std::vector<int32_t>> parts(chunks.size());
  const size_t n_threads =
      std::max<size_t>(1, std::min<size_t>({std::thread::hardware_concurrency(), chunks.size(), 16}));
  std::atomic<size_t> next{0};
  std::vector<std::exception_ptr> errors(n_threads);
  auto work = [&](size_t t) {
    try {
      for (size_t i; (i = next.fetch_add(1)) < chunks.size();)
        parts[i] = tok.encode(std::string_view(text).substr(chunks[i].first, chunks[i].second - chunks[i].first));
    } catch (...) {
      errors[t] = std::current_exception();
      next = chunks.size();
    }
  };
  std::vector<std::thread> threads;
  for (size_t t = 1; t < n_threads; ++t) threads.emplace_back(work, t);
  work(0);
  for (auto& th : threads) th.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
  size_t total = 0;
  for (const auto& p : parts) total += p.size();
  std::vector<int32_t> ids;
  ids.reserve(total);
  for (const auto& p : parts) ids.insert(ids.end(), p.begin(), p.end());
  return ids;
}

// Opens a cache file and checks it against the expected corpus/tokenizer; throws on any
// mismatch so the caller discards it.
TokenFile open_cached(const std::string& path, uint64_t corpus_hash, uint64_t tok_hash, int64_t vocab) {
  TokenFile f = TokenFile::open(path, /*verify_crc=*/true);
  auto fail = [&](const std::string& what) { return std::runtime_error("token cache '" + path + "': " + what); };
  if (f.corpus_hash() != corpus_hash) throw fail("corpus hash does not match the corpus");
  if (f.tokenizer_hash() != tok_hash) throw fail("tokenizer hash does not match the tokenizer");
  if (f.size() == 0) throw fail("holds no tokens");
  for (size_t i = 0; i < f.size(); ++i)
    if (f[i] >= vocab)
      throw fail("token " + std::to_string(i) + " has id " + std::to_string(f[i]) + " >= vocab size " +
                 std::to_string(vocab));
  return f;
}

}  // namespace

std::string resolve_cache_dir(const DataConfig& cfg) {
  if (!cfg.cache_dir.empty()) return cfg.cache_dir;
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg && *xdg == '/') return std::string(xdg) + "/moescope";
  const char* home = std::getenv("HOME");
  if (home && *home) return std::string(home) + "/.cache/moescope";
  return (fs::temp_directory_path() / "moescope-cache").string();
}

CachedTokens cached_tokens(const Tokenizer& tok, const std::string& corpus, const DataConfig& cfg, std::ostream& log) {
  const uint64_t corpus_hash = hash_bytes(corpus);
  std::string fp = tok.fingerprint();
  const uint64_t tok_hash = hash_bytes(fp);
  if (fp.empty() ||
      !std::all_of(fp.begin(), fp.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)); }))
    fp = hex64(tok_hash);
  const std::string dir = resolve_cache_dir(cfg);
  const std::string path = (fs::path(dir) / ("tokens-" + hex64(corpus_hash) + "-" + fp + ".tok")).string();

  CachedTokens out;
  std::error_code ec;
  if (fs::exists(path, ec)) {
    try {
      out.tokens = open_cached(path, corpus_hash, tok_hash, tok.vocab_size());
      out.from_cache = true;
      log << "data: tokens cached: " << out.tokens.size() << " tokens from " << path << "\n";
    } catch (const std::exception& e) {
      log << "data: warning: discarding the token cache (" << e.what() << "); rebuilding it\n";
      fs::remove(path, ec);
    }
  }
  if (!out.from_cache) {
    fs::create_directories(dir, ec);
    if (ec) throw std::runtime_error("token cache directory '" + dir + "': cannot create: " + ec.message());
    const double t0 = now_s();
    const std::vector<int32_t> ids = tokenise(tok, corpus);
    write_token_file(path, ids, corpus_hash, tok_hash);
    out.tokens = TokenFile::open(path, /*verify_crc=*/false);
    log << "data: tokenised " << ids.size() << " tokens in " << seconds_since(t0) << " s, cached in " << path << "\n";
  }

  return out;
}

}  // namespace moescope
