// token_cache.h: a corpus's token ids, tokenised once and kept on disk (torch-free).
//
// <cache_dir>/tokens-<corpus hash, 16 hex>-<tokenizer fingerprint>.tok is a data/token_file.h
// file whose header records hash_bytes(corpus) and hash_bytes(tokenizer fingerprint). A cache
// file is used only when it opens with a valid CRC, its header hashes match and every id is
// < vocab_size; otherwise it is deleted and rebuilt (with a warning). cache_dir =
// DataConfig::cache_dir, else $XDG_CACHE_HOME/moescope, else $HOME/.cache/moescope, else
// <system temp dir>/moescope-cache. A miss tokenises the corpus in chunks that end at a line
// break, on several threads, which gives the ids of encoding the whole text.
#pragma once
#include <ostream>
#include <string>

#include "core/config.h"
#include "data/token_file.h"
#include "data/tokenizer.h"

namespace moescope {

// DataConfig::cache_dir if non-empty, else the default cache directory (see above).
std::string resolve_cache_dir(const DataConfig& cfg);

struct CachedTokens {
  TokenFile tokens;         // mapped read-only
  bool from_cache = false;  // false: tokenised now and written
};

// The token ids of `corpus` under `tok`: the valid cache file, else tokenised and cached.
// Progress and warnings go to `log`; throws std::runtime_error naming the cache directory when
// it cannot be created.
CachedTokens cached_tokens(const Tokenizer& tok, const std::string& corpus, const DataConfig& cfg, std::ostream& log);

}  // namespace moescope
