// The admin API over fetch: JSON in and out, errors as ApiError with the API's message.
// Paths are absolute on the admin server that serves the UI (the UI lives at /ui/).

export class ApiError extends Error {
  constructor(method, path, status, message) {
    super(status ? `${method} ${path} → ${status}: ${message}` : `${method} ${path}: ${message}`);
    this.status = status;
    this.apiMessage = message;
  }
}

async function request(method, path, body) {
  const init = { method, headers: { accept: "application/json" } };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    throw new ApiError(method, path, 0, `the admin API is unreachable (${e.message})`);
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!response.ok) {
    const message = data && typeof data === "object" && data.message ? data.message : text;
    throw new ApiError(method, path, response.status, message || response.statusText);
  }
  return { status: response.status, headers: response.headers, data };
}

/** Path segment, percent-encoded (object keys and names may hold any character). */
export const seg = (s) => encodeURIComponent(s);

/** `?a=1&b=2` from an object, leaving out empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

export const api = {
  get: async (path) => (await request("GET", path)).data,
  post: (path, body) => request("POST", path, body),
  patch: (path) => request("PATCH", path),
  del: (path) => request("DELETE", path),
};
