// The Node side of tests/webcrypto.rs: trades envelopes with Rust using only
// WebCrypto, the way a browser client would.
//
// Reads one JSON request on stdin:
//   { passphrase, wrong_passphrase, salt, iterations, check, stream,
//     from_rust: [{ envelope }], tampered: [envelope], to_rust: [plaintext] }
// and writes one JSON answer on stdout:
//   { key, check_ok, wrong_check_ok, opened: [plaintext], refused: [bool],
//     check, sealed: [envelope] }
// The Rust test asserts on the answer; this script only reports.

import {
  deriveKey,
  fromBase64Url,
  makeKeyCheck,
  open,
  readStdinJson,
  seal,
  toHex,
  verifyKeyCheck,
} from "./malten-v1.mjs";

const request = await readStdinJson();
const salt = fromBase64Url(request.salt);
const { raw, key } = await deriveKey(request.passphrase, salt, request.iterations);
const wrong = await deriveKey(request.wrong_passphrase, salt, request.iterations);

const opened = [];
for (const { envelope } of request.from_rust) {
  opened.push(await open(key, request.stream, envelope));
}

const refused = [];
for (const envelope of request.tampered) {
  try {
    await open(key, request.stream, envelope);
    refused.push(false);
  } catch {
    refused.push(true);
  }
}

const sealed = [];
for (const plaintext of request.to_rust) {
  sealed.push(await seal(key, request.stream, plaintext));
}

const answer = {
  key: toHex(raw),
  check_ok: await verifyKeyCheck(key, request.check),
  wrong_check_ok: await verifyKeyCheck(wrong.key, request.check),
  opened,
  refused,
  check: await makeKeyCheck(key),
  sealed,
};
process.stdout.write(JSON.stringify(answer));
