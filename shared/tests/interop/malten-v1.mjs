// An independent implementation of Malten's encryption format v1
// (docs/crypto.md) on nothing but WebCrypto, as a browser or Node 18+ has it.
//
// It exists to check the Rust implementation against a second one: the test
// vectors in ../vectors/crypto-v1.json are made with it (make-vectors.mjs) and
// the interop test (webcrypto.mjs) trades envelopes with Rust through it.
// It follows docs/crypto.md and shares no code with the Rust implementation.
// Being a test tool, it leaves out the plaintext rules (text length, nick,
// sent_at range) that a real client must check before sealing and after
// opening.

// Browsers and Node 19+ have WebCrypto as a global; Node 18 only as a module.
const webcrypto = globalThis.crypto?.subtle
  ? globalThis.crypto
  : (await import("node:crypto")).webcrypto;
const subtle = webcrypto.subtle;
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

export const VERSION = 0x01;
export const MIN_ITERATIONS = 600000;
export const BUCKETS = [256, 512, 1024, 2048, 4096, 8192];
export const CHECK_LABEL = encoder.encode("malten key check v1");
export const CHECK_AAD = encoder.encode("malten/v1/check");

export function toBase64Url(bytes) {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function fromBase64Url(text) {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) {
    throw new Error("not base64url without padding");
  }
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

export const toHex = (bytes) =>
  Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

export function fromHex(hex) {
  return Uint8Array.from(hex.match(/../g) ?? [], (pair) => parseInt(pair, 16));
}

export function messageAad(stream) {
  return concat(encoder.encode("malten/v1/msg"), [0x00], encoder.encode(stream));
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

// PBKDF2-HMAC-SHA256 over the NFC passphrase; returns the raw 32 bytes and
// an AES-GCM CryptoKey.
export async function deriveKey(passphrase, salt, iterations) {
  if (iterations < MIN_ITERATIONS) throw new Error("too few iterations");
  const material = await subtle.importKey(
    "raw",
    encoder.encode(passphrase.normalize("NFC")),
    "PBKDF2",
    false,
    ["deriveBits"],
  );
  const bits = await subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-256", salt, iterations },
    material,
    256,
  );
  const raw = new Uint8Array(bits);
  const key = await subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
  return { raw, key };
}

async function frame(key, nonce, plaintext, aad) {
  const sealed = await subtle.encrypt(
    { name: "AES-GCM", iv: nonce, additionalData: aad, tagLength: 128 },
    key,
    plaintext,
  );
  return toBase64Url(concat([VERSION], nonce, new Uint8Array(sealed)));
}

async function unframe(key, text, aad) {
  const bytes = fromBase64Url(text);
  if (bytes[0] !== VERSION) throw new Error("unsupported version");
  const plain = await subtle.decrypt(
    { name: "AES-GCM", iv: bytes.slice(1, 13), additionalData: aad, tagLength: 128 },
    key,
    bytes.slice(13),
  );
  return new Uint8Array(plain);
}

const randomNonce = () => webcrypto.getRandomValues(new Uint8Array(12));

export async function makeKeyCheck(key, nonce = randomNonce()) {
  return frame(key, nonce, CHECK_LABEL, CHECK_AAD);
}

export async function verifyKeyCheck(key, check) {
  try {
    const plain = await unframe(key, check, CHECK_AAD);
    return toHex(plain) === toHex(CHECK_LABEL);
  } catch {
    return false;
  }
}

// The plaintext JSON: fields in the documented order, nick left out if none.
export function plaintextJson({ text, nick, sent_at, kind }) {
  const object = { text };
  if (nick !== undefined && nick !== null) object.nick = nick;
  object.sent_at = sent_at;
  object.kind = kind;
  return JSON.stringify(object);
}

export function pad(content) {
  const bucket = BUCKETS.find((size) => content.length < size);
  if (bucket === undefined) throw new Error("message too large");
  const padded = new Uint8Array(bucket);
  padded.set(content);
  padded[content.length] = 0x80;
  return padded;
}

export function unpad(padded) {
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0x00) end--;
  if (end < 0 || padded[end] !== 0x80) throw new Error("bad padding");
  return padded.slice(0, end);
}

export async function seal(key, stream, message, nonce = randomNonce()) {
  const padded = pad(encoder.encode(plaintextJson(message)));
  return frame(key, nonce, padded, messageAad(stream));
}

export async function open(key, stream, envelope) {
  const bytes = fromBase64Url(envelope);
  if (!BUCKETS.some((bucket) => bytes.length === 1 + 12 + bucket + 16)) {
    throw new Error("not an envelope length");
  }
  const padded = await unframe(key, envelope, messageAad(stream));
  return JSON.parse(decoder.decode(unpad(padded)));
}

// Reads all of stdin as JSON.
export async function readStdinJson() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString("utf-8"));
}
