// The demo app's service worker (served at /sw.js): it keeps the page and its scripts so the
// app opens offline after the first visit. The API, the socket, the sign-in pages and the
// admin always go to the network. __VERSION__ is the content hash of the files it keeps.
const CACHE = "cognate-demo-__VERSION__";
const SHELL = ["/", "__SHELL__"];
const NETWORK_ONLY = ["/aws", "/ws/", "/identity/", "/accounts/", "/admin/", "/healthz", "/.well-known/"];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(SHELL))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((n) => n.startsWith("cognate-demo-") && n !== CACHE).map((n) => caches.delete(n))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (NETWORK_ONLY.some((prefix) => url.pathname.startsWith(prefix))) return;
  if (request.mode === "navigate") {
    // The page: the network when it answers (fresh, sets the CSRF cookie), else the copy.
    event.respondWith(
      fetch(request)
        .then((response) => {
          if (response.ok && url.pathname === "/") {
            const copy = response.clone();
            caches.open(CACHE).then((cache) => cache.put("/", copy));
          }
          return response;
        })
        .catch(() => caches.match("/", { cacheName: CACHE })),
    );
    return;
  }
  // Scripts and styles: the kept copy at once (they change only with a new version).
  event.respondWith(caches.match(request, { cacheName: CACHE }).then((hit) => hit || fetch(request)));
});
