// A fake k6/http: every request goes to globalThis.__k6shim.server(method, url, body, params),
// which returns { status, body, headers, waiting }.
function respond(method, url, body, params = {}) {
  const r = globalThis.__k6shim.server(method, url, body, params);
  globalThis.__k6shim.requests.push({ method, url, body, params, status: r.status });
  return {
    status: r.status,
    body: r.body,
    headers: r.headers ?? {},
    timings: { waiting: r.waiting ?? 5, duration: r.duration ?? 50 },
    json(path) {
      const parsed = JSON.parse(r.body);
      return path ? path.split('.').reduce((o, k) => (o == null ? undefined : o[k]), parsed) : parsed;
    },
  };
}
export default {
  get: (url, params) => respond('GET', url, null, params),
  post: (url, body, params) => respond('POST', url, body, params),
  expectedStatuses: (...statuses) => ({ statuses }),
};
