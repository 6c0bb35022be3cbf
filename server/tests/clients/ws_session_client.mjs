// A client of Malten's /ws session protocol written against Node's built-in
// WebSocket (not our code), so the protocol is checked with a third-party
// implementation. Run: node --experimental-websocket ws_session_client.mjs
// ws://HOST:PORT/ws "<expected reply>"
// Exits 0 after ping echo, session create and one chat reply; prints what
// went wrong and exits 1 otherwise.

const [url, expectedReply] = process.argv.slice(2);
if (!url || expectedReply === undefined) {
  console.error("usage: ws_session_client.mjs <ws-url> <expected reply>");
  process.exit(2);
}

const encode = (text) => Buffer.from(text, "utf8").toString("base64");
const decode = (data) => Buffer.from(data, "base64").toString("utf8");

function fail(message) {
  console.error(`FAIL: ${message}`);
  process.exit(1);
}

setTimeout(() => fail("timed out after 10 s"), 10_000).unref();

const socket = new WebSocket(url);
const frames = [];
let waiter = null;

socket.addEventListener("message", (event) => {
  frames.push(JSON.parse(event.data));
  if (waiter) {
    const resolve = waiter;
    waiter = null;
    resolve();
  }
});
socket.addEventListener("error", () => fail("socket error"));
socket.addEventListener("close", (event) => {
  if (!done) fail(`closed early with code ${event.code}`);
});

let done = false;

async function next() {
  while (frames.length === 0) {
    await new Promise((resolve) => (waiter = resolve));
  }
  return frames.shift();
}

function send(frame) {
  socket.send(JSON.stringify(frame));
}

await new Promise((resolve) => socket.addEventListener("open", resolve, { once: true }));

const motd = await next();
if (motd.msg !== "system" || motd.content.type !== "text") fail(`expected the MOTD, got ${JSON.stringify(motd)}`);
console.log(`motd: ${decode(motd.content.data)}`);

const ping = { msg: "ping", cid: "node-ping", content: null };
send(ping);
const pong = await next();
if (JSON.stringify(pong) !== JSON.stringify(ping)) fail(`ping not echoed: ${JSON.stringify(pong)}`);
console.log("ping echoed");

send({ msg: "session", cid: "node-create", content: { request: "create", settings: { temperature: 0.5, seed: 7, name: "NodeBot" } } });
const created = await next();
if (created.cid !== "node-create" || created.content.success !== true || !created.content.session_id) {
  fail(`session create failed: ${JSON.stringify(created)}`);
}
console.log("session created");

send({ msg: "chat", cid: "node-chat", content: { type: "text", data: encode("Hello from Node") } });
const reply = await next();
const content = reply.content;
if (reply.msg !== "chat" || reply.cid !== "node-chat" || content.success !== true || content.bot !== true || content.sender !== "NodeBot") {
  fail(`bad chat reply: ${JSON.stringify(reply)}`);
}
const text = decode(content.data);
if (text !== expectedReply) fail(`reply was ${JSON.stringify(text)}, expected ${JSON.stringify(expectedReply)}`);
console.log(`reply: ${text}`);

done = true;
socket.close(1000);
process.exit(0);
