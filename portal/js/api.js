// The API client. Tokens live in this module's memory only (never localStorage): a reload
// or a closed tab ends the portal session; the server-side session ends at sign-out or idle.

const session = { practice: "", access: "", refresh: "" };
let onEnded = () => {};

export class ApiError extends Error {
  constructor(status, code, details) {
    super(code);
    this.status = status;
    this.code = code;
    this.details = details || {};
  }
}

export function practiceSlug() {
  const param = new URLSearchParams(location.search).get("practice");
  const meta = document.querySelector('meta[name="tpm-practice"]');
  const slug = param || (meta && meta.content) || "";
  return /^[a-z0-9-]{1,40}$/.test(slug) ? slug : "";
}

/** Called with "idle" (session_expired) or "signin" (any other lost authentication). */
export function whenSessionEnds(callback) {
  onEnded = callback;
}

export function signedIn() {
  return session.access !== "";
}

export function forget() {
  session.access = "";
  session.refresh = "";
}

function keep(tokens) {
  session.access = tokens.access_token;
  session.refresh = tokens.refresh_token;
}

async function send(method, path, body, token, extra = {}) {
  const headers = { Accept: "application/json", ...extra };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, "network", {});
  }
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const error = (data && data.error) || {};
    throw new ApiError(response.status, error.code || "error", error.details);
  }
  return data;
}

/** A public call (no session): for people who have no account, such as appointment requests. */
export function publicCall(method, path, body) {
  return send(method, path, body, "");
}

/** A guest's call in a video visit: no account, their visit secret in X-Visit-Guest. */
export function guestCall(method, path, body, guestToken) {
  return send(method, path, body, "", guestToken ? { "X-Visit-Guest": guestToken } : {});
}

/** Sign in: resolves to {mfa: challenge} when a code is needed, else {} once signed in. */
export async function login(email, password) {
  session.practice = practiceSlug();
  const result = await send("POST", "/v1/auth/login", {
    practice: session.practice,
    email,
    password,
  });
  if (result.mfa_required) return { mfa: result.challenge };
  keep(result);
  return {};
}

export async function verifyMfa(challenge, code) {
  const isTotp = /^\d{6}$/.test(code);
  const body = { practice: session.practice, challenge };
  body[isTotp ? "code" : "recovery_code"] = code;
  keep(await send("POST", "/v1/auth/mfa", body));
}

async function refresh() {
  if (!session.refresh) return false;
  try {
    keep(
      await send("POST", "/v1/auth/refresh", {
        practice: session.practice,
        refresh_token: session.refresh,
      }),
    );
    return true;
  } catch {
    return false;
  }
}

/** An authenticated call. A 401 tries one token refresh; a session that has ended
 * (idle timeout, signed out elsewhere) goes back to sign-in. */
export async function call(method, path, body) {
  try {
    return await send(method, path, body, session.access);
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 401) throw error;
    if (error.code !== "session_expired" && (await refresh())) {
      return send(method, path, body, session.access);
    }
    forget();
    error.handled = true;
    onEnded(error.code === "session_expired" ? "idle" : "signin");
    throw error;
  }
}

export async function logout() {
  try {
    await send("POST", "/v1/auth/logout", undefined, session.access);
  } finally {
    forget();
  }
}
