/* The phone app's service worker: the app shell comes from the cache when there is no
 * network; API calls are never cached (the outbox in IndexedDB handles offline reports; the plan of
 * the day keeps its last copy in the page's storage). */
const SHELL = "gridwatch-shell-v4";
const FILES = ["/m/", "/static/app/phone.js", "/static/app/phone.css", "/static/app/phone-plan.js",
               "/static/vendor/leaflet/dist/leaflet.js", "/static/vendor/leaflet/dist/leaflet.css"];

self.addEventListener("install", (e) => {
  e.waitUntil(caches.open(SHELL).then((c) => c.addAll(FILES)).then(() => self.skipWaiting()));
});
self.addEventListener("activate", (e) => e.waitUntil(
  caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k !== SHELL).map((k) => caches.delete(k))))
    .then(() => self.clients.claim())));
self.addEventListener("fetch", (e) => {
  const url = new URL(e.request.url);
  if (e.request.method !== "GET" || !FILES.includes(url.pathname)) return;
  // Network first; keep only good, direct answers (not a proxy's error page or the redirect
  // to sign-in), and find the shell offline whatever its ?lang= query.
  e.respondWith(
    fetch(e.request)
      .then((r) => {
        if (r.ok && !r.redirected) {
          const copy = r.clone();
          caches.open(SHELL).then((c) => c.put(url.pathname, copy));
        }
        return r;
      })
      .catch(() => caches.match(url.pathname, { ignoreSearch: true }))
  );
});
