// Writes the test vectors of format v1 to stdout, made with WebCrypto
// (malten-v1.mjs), so that the Rust implementation is pinned to bytes an
// independent implementation produced:
//
//   node shared/tests/interop/make-vectors.mjs > shared/tests/vectors/crypto-v1.json
//
// Salts and nonces are fixed here so the output is reproducible; real clients
// draw them at random.

import {
  BUCKETS,
  deriveKey,
  fromBase64Url,
  fromHex,
  makeKeyCheck,
  messageAad,
  plaintextJson,
  seal,
  toBase64Url,
  toHex,
} from "./malten-v1.mjs";

const encoder = new TextEncoder();
const counting = (start) => Uint8Array.from({ length: 16 }, (_, i) => (start + i) & 0xff);
const firstChars = (text, n) => Array.from(text).slice(0, n).join("");

const cases = [
  {
    name: "ascii",
    note: "The simplest case: ASCII passphrase and text, no nick, the default stream.",
    passphrase: "correct horse battery staple",
    salt: counting(0x00),
    stream: "_",
    plaintext: { text: "hello, world", sent_at: 1700000000000, kind: "message" },
  },
  {
    name: "passphrase-not-nfc",
    note: "The passphrase is typed decomposed (e + U+0301 COMBINING ACUTE ACCENT); NFC makes it U+00E9, so the key equals that of 'passphrase-nfc'.",
    passphrase: "cafe\u0301 au lait",
    salt: counting(0x40),
    stream: "kitchen",
    plaintext: { text: "Ready in 5 minutes.", nick: "chef", sent_at: 1700000001000, kind: "message" },
  },
  {
    name: "passphrase-nfc",
    note: "The same passphrase as 'passphrase-not-nfc' typed precomposed, with the same salt: the same key.",
    passphrase: "caf\u00e9 au lait",
    salt: counting(0x40),
    stream: "kitchen",
    plaintext: { text: "Merci !", sent_at: 1700000002000, kind: "message" },
  },
  {
    name: "multibyte-with-nick",
    note: "Non-ASCII passphrase, text and nick; quotes, a backslash, a newline and a tab that JSON escapes.",
    passphrase: "пароль 🔑 パスワード",
    salt: counting(0x80),
    stream: "room-42",
    plaintext: {
      text: "Grüße 👋🏽 — 你好, мир! \"quoted\" \\ back\nsecond line\tend",
      nick: "Zoë 🦊",
      sent_at: 1712345678901,
      kind: "message",
    },
  },
  {
    name: "llm-reply",
    note: "A reply from the LLM, in a stream whose creator chose more iterations than the minimum.",
    passphrase: "ask the machine",
    salt: counting(0xc0),
    iterations: 700000,
    stream: "ask.llm",
    plaintext: {
      text: "The capital of France is Paris.",
      nick: "llm",
      sent_at: 1700000003000,
      kind: "llm_reply",
    },
  },
  {
    name: "max-length-mixed",
    note: "A 1024-character text mixing one- to four-byte characters and a 32-character nick (1,575 bytes of JSON): bucket 2048.",
    passphrase: "correct horse battery staple",
    salt: counting(0x00),
    stream: "_",
    plaintext: {
      text: firstChars("Malten ⏳ 1024 · ünïcödé 🕰️ ".repeat(60), 1024),
      nick: "a".repeat(32),
      sent_at: 1700000004000,
      kind: "llm_prompt",
    },
  },
  {
    name: "max-length-worst-case",
    note: "The largest possible plaintext: 1024 and 32 characters that JSON escapes as six bytes each (U+0001 is not whitespace, so the text is valid), sent_at = 2^53 - 1, the longest kind. 6,404 bytes of JSON: bucket 8192, and the envelope is the longest possible, 10,962 characters.",
    passphrase: "correct horse battery staple",
    salt: counting(0x00),
    stream: "x".repeat(64),
    plaintext: {
      text: "\u0001".repeat(1024),
      nick: "\u0001".repeat(32),
      sent_at: 2 ** 53 - 1,
      kind: "llm_prompt",
    },
  },
];

const vectors = [];
for (const [index, c] of cases.entries()) {
  const iterations = c.iterations ?? 600000;
  const { raw, key } = await deriveKey(c.passphrase, c.salt, iterations);
  const checkNonce = Uint8Array.from({ length: 12 }, (_, i) => 0xa0 + index * 12 + i);
  const nonce = Uint8Array.from({ length: 12 }, (_, i) => 0x10 + index * 12 + i);
  const json = plaintextJson(c.plaintext);
  const envelope = await seal(key, c.stream, c.plaintext, nonce);
  const jsonBytes = encoder.encode(json).length;
  vectors.push({
    name: c.name,
    note: c.note,
    passphrase: c.passphrase,
    passphrase_utf8: toHex(encoder.encode(c.passphrase)),
    passphrase_nfc_utf8: toHex(encoder.encode(c.passphrase.normalize("NFC"))),
    salt: toBase64Url(c.salt),
    iterations,
    key: toHex(raw),
    check_nonce: toHex(checkNonce),
    check: await makeKeyCheck(key, checkNonce),
    stream: c.stream,
    aad: toHex(messageAad(c.stream)),
    nonce: toHex(nonce),
    plaintext: c.plaintext,
    plaintext_json: json,
    plaintext_json_bytes: jsonBytes,
    padded_len: BUCKETS.find((bucket) => jsonBytes < bucket),
    envelope,
  });
  if (toHex(fromBase64Url(envelope).slice(1, 13)) !== toHex(fromHex(toHex(nonce)))) {
    throw new Error("nonce not at bytes 1..13");
  }
}

const file = {
  format: "malten encryption v1",
  description: "See docs/crypto.md. Each vector: derive key from passphrase (NFC) + salt + iterations; the key check made with check_nonce is check; the plaintext object serializes to exactly plaintext_json; sealed for stream with nonce it gives exactly envelope. Hex is lowercase; salt, check and envelope are base64url without padding.",
  generated_by: "shared/tests/interop/make-vectors.mjs (Node WebCrypto)",
  vectors,
};
process.stdout.write(JSON.stringify(file, null, 2) + "\n");
