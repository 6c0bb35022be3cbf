// Malten's service worker: keeps the app shell so the app opens, and says
// it is offline, when the server cannot be reached.
//
// What it keeps: the page (index.html, stored under "/") and the files the
// page names (the hashed .js, .wasm, .css and the icon), plus the manifest.
// Nothing else, ever: no API answer, no message, nothing of
// /events, /ws, /streams, /messages, /commands, /v1 or /healthz; those
// requests are not even looked at (the browser sends them as if there were
// no worker). Passphrases are never stored here: the part of the address
// after "#" is never sent to any server, and although a worker can see it
// in a page's address, this one keeps the page only under "/", never under
// the address it was asked for.
//
// How: the page is fetched from the network first and the kept copy is
// used only when that fails; the hashed files never change under their
// name, so the kept copy is used first. Each fresh copy of the page
// replaces the kept one, with its files, and files it no longer names are
// dropped. A new VERSION (a change in this file) starts a new cache and
// deletes the old ones.
//
// It only ever fetches from its own origin (the server also sends it a
// Content-Security-Policy of `connect-src 'self'`).

const VERSION = 'malten-shell-v1';
const SHELL = '/';

/// Requests a worker must never answer or keep (also guarded by `isShellFile`).
const NEVER = ['/events', '/ws', '/streams', '/messages', '/commands', '/v1', '/healthz', '/metrics'];

/// The page's own files: one path segment (or icons/…), a file extension.
const FILE = /^\/(icons\/)?[A-Za-z0-9._-]+\.(js|wasm|css|svg|png|webmanifest)$/;
/// Trunk's content hash in a file name (`name-<hash>.ext`, `name-<hash>_bg.wasm`).
const HASHED = /-[0-9a-f]{12,}(_bg)?\.[a-z]+$/;

function isShellFile(url) {
  return url.origin === self.location.origin
    && url.search === ''
    && FILE.test(url.pathname)
    && !NEVER.some((prefix) => url.pathname.startsWith(prefix));
}

/// The files a copy of the page names, and the manifest.
function filesOf(html) {
  const files = new Set(['/manifest.webmanifest']);
  for (const match of html.matchAll(/["'](\/[^"'?#\s]+)["']/g)) {
    const url = new URL(match[1], self.location.origin);
    if (isShellFile(url)) files.add(url.pathname);
  }
  return [...files];
}

/// Keeps `page` (a fresh response for "/") and the files it names, and
/// drops what it no longer names.
async function keepShell(page) {
  const cache = await caches.open(VERSION);
  const html = await page.clone().text();
  const files = filesOf(html);
  await cache.addAll(files);
  await cache.put(SHELL, page);
  const wanted = new Set([SHELL, ...files].map((path) => new URL(path, self.location.origin).href));
  for (const request of await cache.keys()) {
    if (!wanted.has(request.url)) await cache.delete(request);
  }
}

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const page = await fetch(SHELL, { cache: 'no-cache' });
    if (!page.ok) throw new Error(`the app shell answered ${page.status}`);
    await keepShell(page);
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name !== VERSION) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

async function navigate(event) {
  const url = new URL(event.request.url);
  try {
    const response = await fetch(event.request);
    if (response.ok && url.pathname === SHELL) {
      event.waitUntil(keepShell(response.clone()).catch(() => {}));
    }
    return response;
  } catch (offline) {
    const kept = url.pathname === SHELL || url.pathname === '/index.html'
      ? await caches.match(SHELL)
      : undefined;
    if (kept) return kept;
    throw offline;
  }
}

async function shellFile(request) {
  const url = new URL(request.url);
  const cache = await caches.open(VERSION);
  if (HASHED.test(url.pathname)) {
    const kept = await cache.match(request);
    if (kept) return kept;
  }
  try {
    return await fetch(request);
  } catch (offline) {
    const kept = await cache.match(request);
    if (kept) return kept;
    throw offline;
  }
}

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === 'navigate') {
    event.respondWith(navigate(event));
  } else if (isShellFile(url)) {
    event.respondWith(shellFile(request));
  }
  // Anything else (the API, the live connection) is left to the browser.
});
