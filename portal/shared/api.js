// The one API client for the patient portal and the staff app.
//
// Tokens live in this module's memory only (never localStorage or sessionStorage): a reload
// or a closed tab ends the browser's hold on the session; the server-side session ends at
// sign-out or idle. Nothing here logs, and nothing puts a body or a name in a URL.

const session = { practice: "", access: "", refresh: "" };
const hooks = {
  ended: () => {},
  stepUp: null, // async () => boolean: ask for password + code, true when re-authenticated
  activity: () => {},
};

export class ApiError extends Error {
  constructor(status, code, details) {
    super(code);
    this.status = status;
    this.code = code;
    this.details = details || {};
  }
}

/** The practice slug: `?practice=<slug>` (a slug, never PHI) or the page's meta tag. */
export function practiceSlug() {
  const param = new URLSearchParams(location.search).get("practice");
  const meta = document.querySelector('meta[name="tpm-practice"]');
  const slug = param || (meta && meta.content) || "";
  return /^[a-z0-9-]{1,40}$/.test(slug) ? slug : "";
}

/** Called with "idle" (session_expired) or "signin" (any other lost authentication). */
export function whenSessionEnds(callback) {
  hooks.ended = callback;
}

/** Called when the API answers 401 `reauthenticate` (step-up for a sensitive action): the
 * callback asks the user for their password and a fresh code, calls `reauthenticate`, and
 * resolves true to retry the request (false gives the caller the original error). */
export function whenStepUpNeeded(callback) {
  hooks.stepUp = callback;
}

/** Called after every authenticated request that reached the server (the server's idle
 * clock restarts then), so the app can time its idle warning. */
export function onServerActivity(callback) {
  hooks.activity = callback;
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

async function send(method, path, body, token, accept = "application/json", extra = {}) {
  const headers = { Accept: accept, ...extra };
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
  if (response.ok && accept !== "application/json") return response.blob();
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    if (response.ok) throw new ApiError(response.status, "bad_response", {});
  }
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
  const extra = guestToken ? { "X-Visit-Guest": guestToken } : {};
  return send(method, path, body, "", "application/json", extra);
}

/** Sign in. Resolves to {mfa: challenge} when a code is needed, else to
 * {enrol: boolean} once signed in (enrol: the account must set up MFA before anything else). */
export async function login(email, password) {
  session.practice = practiceSlug();
  const result = await send("POST", "/v1/auth/login", {
    practice: session.practice,
    email,
    password,
  });
  if (result.mfa_required) return { mfa: result.challenge };
  keep(result);
  return { enrol: Boolean(result.mfa_enrolment_required) };
}

/** The second step: a 6-digit TOTP code or a recovery code. */
export async function verifyMfa(challenge, code) {
  const isTotp = /^\d{6}$/.test(code);
  const body = { practice: session.practice, challenge };
  body[isTotp ? "code" : "recovery_code"] = code;
  const result = await send("POST", "/v1/auth/mfa", body);
  keep(result);
  return { enrol: Boolean(result.mfa_enrolment_required) };
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

// A read that lost a race for the practice's audit trail (409 transaction_conflict: every
// read is audited, and a page loads several at once) is repeated after a short, jittered
// pause: the server asks for a retry, and a GET changes nothing.
const READ_RETRIES = 3;
const pause = (attempt) =>
  new Promise((resolve) => setTimeout(resolve, 100 * (attempt + 1) + Math.random() * 200));

async function authed(method, path, body, accept) {
  for (let attempt = 0; ; attempt += 1) {
    try {
      const result = await send(method, path, body, session.access, accept);
      hooks.activity();
      return result;
    } catch (error) {
      if (error instanceof ApiError && error.status !== 0 && error.status !== 401) hooks.activity();
      const racedRead =
        method === "GET" && error instanceof ApiError && error.code === "transaction_conflict";
      if (racedRead && attempt < READ_RETRIES) {
        await pause(attempt);
        continue;
      }
      throw error;
    }
  }
}

/** An authenticated call. A 401 tries one token refresh; `reauthenticate` asks for step-up
 * (then retries once); a session that has ended (idle timeout, signed out elsewhere) goes
 * back to sign-in. */
export async function call(method, path, body, accept) {
  try {
    return await authed(method, path, body, accept);
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 401) throw error;
    if (error.code === "reauthenticate") {
      if (hooks.stepUp && (await hooks.stepUp())) return authed(method, path, body, accept);
      throw error;
    }
    if (error.code !== "session_expired" && (await refresh())) {
      return authed(method, path, body, accept);
    }
    forget();
    error.handled = true;
    hooks.ended(error.code === "session_expired" ? "idle" : "signin");
    throw error;
  }
}

/** A file from the API (PDF, document) as a Blob. */
export function download(path, type = "application/pdf") {
  return call("GET", path, undefined, type);
}

/** Step-up: proves the password and a fresh TOTP code for this session. */
export async function reauthenticate(password, code) {
  await send("POST", "/v1/auth/reauthenticate", { password, code }, session.access);
  hooks.activity();
}

export async function logout() {
  try {
    await send("POST", "/v1/auth/logout", undefined, session.access);
  } finally {
    forget();
  }
}
