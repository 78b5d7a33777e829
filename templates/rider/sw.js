/* The rider page's service worker: the shell from the cache when the network fails, and the
   last nearest list, marked with the time it was fetched (X-Stations-Stale-Since). */
"use strict";
const CACHE = "shell-{{ version }}";
const SHELL = {{ shell|tojson }};
const NEAREST = {{ nearest_url|tojson }};
const LAST_LIST = "/__last-nearest-list";

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((key) => key !== CACHE).map((key) => caches.delete(key))))
      .then(() => self.clients.claim())
  );
});

async function pageFirst(request) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.ok) cache.put(SHELL[0], response.clone());
    return response;
  } catch (error) {
    return (await cache.match(SHELL[0], {ignoreVary: true})) || Response.error();
  }
}

async function withHeader(response, name, value) {
  const headers = new Headers(response.headers);
  headers.set(name, value);
  return new Response(await response.blob(), {status: response.status, headers: headers});
}

async function listFirst(request) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.ok) {
      await cache.put(LAST_LIST, await withHeader(response.clone(), "X-Fetched-At", new Date().toISOString()));
    }
    return response;
  } catch (error) {
    const last = await cache.match(LAST_LIST, {ignoreVary: true});
    if (!last) return Response.error();
    return withHeader(last, "X-Stations-Stale-Since", last.headers.get("X-Fetched-At"));
  }
}

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (event.request.mode === "navigate") {
    event.respondWith(pageFirst(event.request));
  } else if (url.pathname === NEAREST) {
    event.respondWith(listFirst(event.request));
  } else if (SHELL.includes(url.pathname + url.search)) {
    event.respondWith(caches.match(event.request, {ignoreVary: true}).then((hit) => hit || fetch(event.request)));
  }
});
