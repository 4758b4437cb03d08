// The one way the console talks to Sedulur: api() for JSON requests and stream() for the
// Server-Sent Events endpoint. Both add the logged-in user's credentials (a signed token,
// or until signed tokens land, the development identity headers), so no screen handles
// credentials itself.

const CREDENTIALS = "sedulur.credentials";
const IDENTITY = "sedulur.identity";

let config = null;

export async function loadConfig() {
  const resp = await fetch("config.json", { cache: "no-cache" });
  if (!resp.ok) throw new Error(`config.json: HTTP ${resp.status}`);
  config = await resp.json();
  return config;
}

export function devIdentityAllowed() {
  return Boolean(config && config.dev_identity);
}

export function serviceUrl(service) {
  const entry = config.services[service];
  if (!entry) throw new Error(`unknown service ${service}`);
  // Behind a proxy the config names the URL; else the same host on the service's port.
  if (entry.url) return entry.url;
  if (!entry.port) return location.origin; // the service that served this page
  return `${location.protocol}//${location.hostname}:${entry.port}`;
}

// -- credentials and identity ---------------------------------------------------------------

function b64urlJson(part) {
  const text = atob(part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "="));
  const bytes = Uint8Array.from(text, (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

// Display only: the services verify the token; the page reads its claims to pick screens.
export function decodeToken(token) {
  const parts = token.split(".");
  if (parts.length !== 3) throw new Error("token tidak berbentuk JWT (tiga bagian)");
  const claims = b64urlJson(parts[1]);
  if (!claims.sub || !claims.role) throw new Error("token tidak memuat sub dan role");
  if (claims.exp && claims.exp * 1000 < Date.now()) throw new Error("token sudah kedaluwarsa");
  return {
    user: claims.sub, role: claims.role, desk: claims.desk || null,
    area: claims.kecamatan || claims.kabupaten || null, agency: claims.agency || null,
    kabupaten: claims.kabupaten || null, expires: claims.exp || null, kind: "token",
  };
}

export function loginWithToken(token) {
  token = token.trim().replace(/^Bearer\s+/i, "");
  const identity = decodeToken(token);
  save({ Authorization: `Bearer ${token}` }, identity);
  return identity;
}

// Until signed tokens land (issue 9) the services read who is acting from these headers.
export function loginWithDevIdentity({ user, role, desk, area, agency }) {
  if (!user || !role) throw new Error("isi ID pengguna dan peran");
  const headers = { "X-Sedulur-User": user, "X-Sedulur-Role": role };
  if (desk) headers["X-Sedulur-Desk"] = desk;
  if (area) headers["X-Sedulur-Area"] = area;
  if (agency) headers["X-Sedulur-Agency"] = agency;
  const identity = { user, role, desk: desk || null, area: area || null, agency: agency || null,
                     kind: "dev" };
  save(headers, identity);
  return identity;
}

function save(headers, identity) {
  sessionStorage.setItem(CREDENTIALS, JSON.stringify(headers));
  sessionStorage.setItem(IDENTITY, JSON.stringify(identity));
}

export function identity() {
  const raw = sessionStorage.getItem(IDENTITY);
  return raw ? JSON.parse(raw) : null;
}

export function logout() {
  sessionStorage.removeItem(CREDENTIALS);
  sessionStorage.removeItem(IDENTITY);
}

function credentialHeaders() {
  return JSON.parse(sessionStorage.getItem(CREDENTIALS) || "{}");
}

// -- requests ------------------------------------------------------------------------------

export class ApiError extends Error {
  constructor(status, error) {
    super((error && error.message) || `HTTP ${status}`);
    this.status = status;
    this.code = error && error.code;
    this.field = error && error.field;
  }
}

const listeners = new Set();
// A 401 anywhere means the credentials are gone or expired: the app shows the login.
export function onUnauthenticated(fn) { listeners.add(fn); }

export async function api(service, path, { method = "GET", body, headers = {}, raw = false,
                                           signal } = {}) {
  const all = { Accept: "application/json", ...credentialHeaders(), ...headers };
  if (body !== undefined) all["Content-Type"] = "application/json";
  let resp;
  try {
    resp = await fetch(serviceUrl(service) + path, {
      method, headers: all, signal, cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, { code: "unreachable",
                            message: `layanan ${service} tidak dapat dihubungi` });
  }
  if (resp.status === 401) listeners.forEach((fn) => fn());
  if (raw) return resp;
  if (resp.status === 204) return null;
  const data = await resp.json().catch(() => null);
  if (!resp.ok) throw new ApiError(resp.status, data && data.error);
  return data;
}

// Server-Sent Events over fetch: EventSource cannot send an Authorization header, and a
// token in the URL would end up in access logs. Reconnects after `retry` ms.
export function stream(service, path, onEvent, onState = () => {}) {
  let stopped = false;
  let controller = null;
  let retry = 2000;

  function dispatch(block) {
    let event = "message";
    const data = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith(":")) continue;
      const [field, ...rest] = line.split(":");
      const value = rest.join(":").replace(/^ /, "");
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
      else if (field === "retry" && /^\d+$/.test(value)) retry = Number(value);
    }
    if (data.length) onEvent(event, JSON.parse(data.join("\n")));
  }

  async function run() {
    while (!stopped) {
      controller = new AbortController();
      try {
        const resp = await api(service, path, { raw: true, signal: controller.signal,
                                                headers: { Accept: "text/event-stream" } });
        if (!resp.ok) {
          const data = await resp.json().catch(() => null);
          throw new ApiError(resp.status, data && data.error);
        }
        onState("open");
        const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let cut;
          while ((cut = buffer.search(/\r?\n\r?\n/)) >= 0) {
            const block = buffer.slice(0, cut);
            buffer = buffer.slice(cut).replace(/^\r?\n\r?\n/, "");
            dispatch(block);
          }
        }
      } catch (err) {
        if (stopped) return;
        onState("error", err);
        if (err instanceof ApiError && (err.status === 401 || err.status === 403)) return;
      }
      if (stopped) return;
      onState("reconnecting");
      await new Promise((r) => setTimeout(r, retry));
    }
  }
  run();
  return () => { stopped = true; if (controller) controller.abort(); };
}

// crypto.randomUUID needs a secure context; a tablet on the office LAN may use plain http.
export function newKey() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}
