// The API client: one place that adds the token, decodes JSON and turns the node's error shape
// into exceptions with the node's message.

const TOKEN_KEY = 'kgnode.token';
const API = '/api/v1';

/** The token pasted in Settings (kept for this tab only: sessionStorage). */
export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

/** Stores (or, when blank, forgets) the token. */
export function setToken(value) {
  const trimmed = value.trim();
  if (trimmed) sessionStorage.setItem(TOKEN_KEY, trimmed);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** An API failure, with the HTTP status and the node's error code and message. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Builds `/api/v1{path}?{query}`, skipping empty query values. */
export function apiUrl(path, query = {}) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') params.set(key, String(value));
  }
  const qs = params.toString();
  return `${API}${path}${qs ? `?${qs}` : ''}`;
}

/** Sends a request; resolves to the decoded JSON body, rejects with an ApiError. */
export async function request(method, path, { query, body } = {}) {
  const headers = { Accept: 'application/json' };
  const secret = token();
  if (secret) headers.Authorization = `Bearer ${secret}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(apiUrl(path, query), {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = data && data.error ? data.error : {};
    throw new ApiError(response.status, error.code || 'http_error',
      error.message || `${response.status} ${response.statusText}`);
  }
  return data;
}

/** `GET` shorthand. */
export function get(path, query) {
  return request('GET', path, { query });
}

/** `POST` shorthand. */
export function post(path, body) {
  return request('POST', path, { body });
}

/**
 * The URL of a convergence's event stream. EventSource cannot send headers, so the token
 * travels as `access_token` (the node redacts it in its logs).
 */
export function eventsUrl(slug, types) {
  return apiUrl(`/convergences/${encodeURIComponent(slug)}/events`, {
    types: types.join(','),
    access_token: token(),
  });
}
