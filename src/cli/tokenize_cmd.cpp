// tokenize_cmd.cpp: `moescope tokenize --tokenizer PATH [--decode] [--special]`: UTF-8 lines on
// stdin -> one JSON array of token ids per line on stdout; with --decode, one JSON array per
// line in -> one line of text out. PATH is a Hugging Face tokenizer.json, or a directory
// holding a tokenizer.json (a Hugging Face model directory or a moescope run directory).
#include <filesystem>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "data/hf_bridge.h"
#include "data/tokenizer.h"

namespace moescope {

Command register_tokenize(CLI::App& app) {
  struct Opts {
    std::string tokenizer;
    bool decode = false, special = false;
  };
  auto o = std::make_shared<Opts>();
  auto* c = app.add_subcommand("tokenize", "Encode stdin lines to JSON id arrays (or --decode them back)");
  c->add_option("--tokenizer", o->tokenizer, "A tokenizer.json, or a model or run directory holding one")->required();
  c->add_flag("--decode", o->decode, "Read one JSON array of ids per line, print the decoded text");
  c->add_flag("--special", o->special,
              "Add BOS/EOS as tokenizer_config.json says (Hugging Face tokenizers; default: the text's ids only)");
  return [o]() -> int {
    // A directory, or a file called tokenizer.json, may hold either format (load_tokenizer
    // tells them apart); any other file must be a Hugging Face tokenizer.json.
    namespace fs = std::filesystem;
    const fs::path path(o->tokenizer);
    std::unique_ptr<Tokenizer> tok;
    if (fs::is_directory(path)) tok = load_tokenizer(path.string());
    else if (path.filename() == "tokenizer.json" && fs::exists(path))
      tok = load_tokenizer(path.has_parent_path() ? path.parent_path().string() : ".");
    else tok = std::make_unique<HfTokenizerAdapter>(HfTokenizer::load(path.string()));
    const HfTokenizer* hf = as_hf_tokenizer(*tok);
    if (o->special && !hf)
      throw std::invalid_argument("--special needs a Hugging Face tokenizer (this one is " + tok->kind() + ")");
    std::string line;
    for (size_t n = 1; std::getline(std::cin, line); ++n) {
      if (o->decode) {
        std::vector<int32_t> ids;
        try {
          ids = nlohmann::json::parse(line).get<std::vector<int32_t>>();
        } catch (const nlohmann::json::exception& e) {
          throw std::runtime_error("stdin line " + std::to_string(n) + ": expected a JSON array of token ids (" +
                                   e.what() + ")");
        }
        std::cout << tok->decode(ids) << '\n';
      } else {
        const auto ids = o->special ? hf->encode_with_special(line) : tok->encode(line);
        std::cout << nlohmann::json(ids).dump() << '\n';
      }
    }
    std::cout.flush();
    return 0;
  };
}

}  // namespace moescope
