import { SluiceError, codeForStatus, networkError } from './errors';

/** Where and as whom to call sluice. */
export interface ClientOptions {
  /** The user's ID token (Firebase, any OIDC issuer sluice trusts, or a development token). */
  token: string;
  /** Base URL of the sluice API, e.g. "https://uploads.example.com". Default: this page's origin. */
  server?: string;
  /** Cancels the call. */
  signal?: AbortSignal;
}

/** Bytes sent so far, of total. */
export interface Progress {
  loaded: number;
  total: number;
}

export function endpoint(server: string | undefined, path: string): string {
  const base = server ?? (typeof location !== 'undefined' ? location.origin : '');
  if (!base) throw new SluiceError('invalid_request', 'no server: pass the sluice API base URL as server');
  return base.replace(/\/+$/, '') + path;
}

/** apiError turns a non-2xx answer of the API into a SluiceError. */
export function apiError(status: number, body: string, requestId?: string | null): SluiceError {
  try {
    const e = JSON.parse(body)?.error;
    if (e && typeof e.code === 'string') {
      return new SluiceError(e.code, String(e.message ?? e.code), status, requestId ?? undefined);
    }
  } catch {
    // not JSON: a proxy's or gateway's page; fall back on the status
  }
  return new SluiceError(codeForStatus(status), `the sluice server answered HTTP ${status}`, status, requestId ?? undefined);
}

/** api calls the sluice API and returns its JSON answer (undefined for 204). */
export async function api<T>(method: string, path: string, opts: Partial<ClientOptions>, body?: unknown): Promise<T> {
  const url = endpoint(opts.server, path);
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let resp: Response;
  try {
    resp = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: opts.signal,
      credentials: 'omit',
    });
  } catch (e) {
    if ((e as Error)?.name === 'AbortError') throw e;
    throw networkError(url, 'reach the sluice server at');
  }
  const text = await resp.text();
  if (!resp.ok) throw apiError(resp.status, text, resp.headers.get('X-Request-Id'));
  return (text ? JSON.parse(text) : undefined) as T;
}

/** The answer to a request sent with send. */
export interface Sent {
  status: number;
  body: string;
  header(name: string): string | null;
}

/**
 * send makes one request with XMLHttpRequest, the only browser API that
 * reports upload progress (fetch has none). It resolves with any answer the
 * page may read, and rejects with SluiceError "unavailable" when there is
 * none (network down, CORS refused) and with an AbortError when aborted.
 */
export function send(
  method: string,
  url: string,
  body: Blob | FormData,
  headers: Record<string, string>,
  total: number,
  onProgress?: (p: Progress) => void,
  signal?: AbortSignal,
  what = 'upload to',
): Promise<Sent> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new DOMException('the upload was aborted', 'AbortError'));
      return;
    }
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
    if (onProgress) {
      xhr.upload.onprogress = (e) => onProgress({ loaded: e.loaded, total: e.lengthComputable ? e.total : total });
    }
    const abort = () => xhr.abort();
    signal?.addEventListener('abort', abort, { once: true });
    const done = () => signal?.removeEventListener('abort', abort);
    xhr.onload = () => {
      done();
      resolve({ status: xhr.status, body: xhr.responseText, header: (n) => xhr.getResponseHeader(n) });
    };
    xhr.onerror = () => {
      done();
      reject(networkError(url, what));
    };
    xhr.ontimeout = xhr.onerror;
    xhr.onabort = () => {
      done();
      reject(new DOMException('the upload was aborted', 'AbortError'));
    };
    xhr.send(body);
  });
}

/** sha256Hex is the SHA-256 of a file, or undefined where WebCrypto is missing (not a secure context). */
export async function sha256Hex(file: Blob): Promise<string | undefined> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) return undefined;
  const d = new Uint8Array(await subtle.digest('SHA-256', await file.arrayBuffer()));
  return Array.from(d, (b) => b.toString(16).padStart(2, '0')).join('');
}

export function hexToBase64(hex: string): string {
  let s = '';
  for (let i = 0; i < hex.length; i += 2) s += String.fromCharCode(parseInt(hex.slice(i, i + 2), 16));
  return btoa(s);
}
