/**
 * sluice's browser client: uploads with progress by each of sluice's
 * options, and the user's files.
 *
 *   const file = await upload(input.files[0], { token, mode: 'presigned', onProgress });
 *
 * Every failure is a SluiceError carrying sluice's stable error code.
 * docs/clients/web.md has the details.
 */
import { SluiceError, storeError, safeURL } from './errors';
import { api, apiError, endpoint, send, sha256Hex, type ClientOptions, type Progress } from './http';
import type { SluiceFile, UploadGrant } from './types';

export { SluiceError } from './errors';
export type { ClientOptions, Progress } from './http';
export type { SluiceFile, UploadGrant } from './types';
export { tokenSubject } from './token';

/**
 * How the bytes travel (the options of docs/architecture.md):
 * - "presigned": option 2, a write-once presigned PUT straight to the store;
 * - "post": option 2, a presigned POST form (policy-bound, SHA-256 required);
 * - "proxy": option 1, the bytes stream through sluice (POST /v1/files);
 * - "direct": option 4, temporary credentials from sluice's STS, the PUT
 *   signed here (AWS SDK for JavaScript v3).
 */
export type Mode = 'presigned' | 'post' | 'proxy' | 'direct';

export const modes: readonly Mode[] = ['presigned', 'post', 'proxy', 'direct'];

export interface UploadOptions extends ClientOptions {
  /** Default "presigned". */
  mode?: Mode;
  /** Default: the file's own type. */
  contentType?: string;
  /** Default: the file's name. */
  filename?: string;
  /** Called as bytes go out (XMLHttpRequest upload progress). */
  onProgress?: (p: Progress) => void;
}

/**
 * upload sends one file by the chosen mode and returns its record. For
 * "presigned" and "post" that is grant → upload → complete, and the record
 * is the server's after it verified the object; for "proxy" the server's
 * answer; for "direct" the object written (the server records it when its
 * reconciler next runs).
 */
export async function upload(file: Blob, opts: UploadOptions): Promise<SluiceFile> {
  const mode = opts.mode ?? 'presigned';
  const filename = opts.filename ?? (file as File).name ?? '';
  const contentType = opts.contentType ?? file.type;
  switch (mode) {
    case 'presigned':
    case 'post':
      return presigned(file, filename, contentType, mode === 'post' ? 'POST' : 'PUT', opts);
    case 'proxy':
      return proxy(file, filename, contentType, opts);
    case 'direct': {
      // The AWS SDK is loaded only by those who use option 4.
      const { directUpload } = await import('./direct');
      return directUpload(file, filename, contentType, opts);
    }
    default:
      throw new SluiceError('method_not_supported', `unknown mode ${JSON.stringify(mode)}; use one of ${modes.join(', ')}`);
  }
}

async function presigned(file: Blob, filename: string, contentType: string, method: 'PUT' | 'POST', opts: UploadOptions): Promise<SluiceFile> {
  const sha256 = await sha256Hex(file);
  if (!sha256 && method === 'POST') {
    throw new SluiceError('invalid_checksum', 'a POST upload needs the SHA-256 of the file, and this page cannot compute it: WebCrypto works only on https or localhost');
  }
  const grant = await api<UploadGrant>('POST', '/v1/uploads', opts, {
    filename, content_type: contentType, size: file.size, sha256, method,
  });
  let sent;
  if (grant.method === 'POST') {
    const form = new FormData();
    for (const [k, v] of Object.entries(grant.fields ?? {})) form.append(k, v);
    form.append('file', file, filename || 'upload'); // the file goes last
    // Progress is reported in the file's bytes, not the form's.
    const onProgress = opts.onProgress && ((p: Progress) => opts.onProgress!({
      loaded: p.loaded >= p.total ? file.size : Math.floor((p.loaded / p.total) * file.size),
      total: file.size,
    }));
    sent = await send('POST', grant.url, form, {}, file.size, onProgress, opts.signal);
  } else {
    // Exactly the signed headers; the browser adds Host and Content-Length.
    sent = await send('PUT', grant.url, file, grant.headers ?? {}, file.size, opts.onProgress, opts.signal);
  }
  if (sent.status < 200 || sent.status > 299) throw storeError(sent.status, sent.body, grant.method === 'POST' ? 'form upload' : 'upload');
  return complete(grant.id, opts);
}

/** complete asks the server to verify the uploaded object and make it a file. */
export function complete(uploadId: string, opts: ClientOptions): Promise<SluiceFile> {
  return api<SluiceFile>('POST', `/v1/uploads/${encodeURIComponent(uploadId)}/complete`, opts);
}

/** createUpload asks for a grant (POST /v1/uploads), for callers that send the bytes themselves (e.g. Uppy). */
export function createUpload(
  req: { filename?: string; content_type: string; size: number; sha256?: string; method?: 'PUT' | 'POST' },
  opts: ClientOptions,
): Promise<UploadGrant> {
  return api<UploadGrant>('POST', '/v1/uploads', opts, req);
}

async function proxy(file: Blob, filename: string, contentType: string, opts: UploadOptions): Promise<SluiceFile> {
  const sha256 = await sha256Hex(file);
  const url = endpoint(opts.server, '/v1/files' + (filename ? `?filename=${encodeURIComponent(filename)}` : ''));
  const headers: Record<string, string> = { Authorization: `Bearer ${opts.token}`, 'Content-Type': contentType || 'application/octet-stream' };
  if (sha256) headers['X-Checksum-Sha256'] = sha256;
  const sent = await send('POST', url, file, headers, file.size, opts.onProgress, opts.signal, 'upload through the sluice server at');
  if (sent.status < 200 || sent.status > 299) throw apiError(sent.status, sent.body, sent.header('X-Request-Id'));
  return JSON.parse(sent.body) as SluiceFile;
}

export interface FileList {
  files: SluiceFile[];
  next_cursor?: string;
}

/** listFiles lists the user's files, newest first. */
export function listFiles(opts: ClientOptions & { limit?: number; cursor?: string }): Promise<FileList> {
  const q = new URLSearchParams();
  if (opts.limit) q.set('limit', String(opts.limit));
  if (opts.cursor) q.set('cursor', opts.cursor);
  const qs = q.toString();
  return api<FileList>('GET', '/v1/files' + (qs ? '?' + qs : ''), opts);
}

/** getFile returns one of the user's files. */
export function getFile(id: string, opts: ClientOptions): Promise<SluiceFile> {
  return api<SluiceFile>('GET', `/v1/files/${encodeURIComponent(id)}`, opts);
}

/** downloadURL is a presigned GET for the file's bytes, valid for minutes. */
export function downloadURL(id: string, opts: ClientOptions): Promise<{ url: string; expires_at: string }> {
  return api('GET', `/v1/files/${encodeURIComponent(id)}/content?redirect=false`, opts);
}

/** download fetches the file's bytes (the store must allow this page's origin). */
export async function download(id: string, opts: ClientOptions): Promise<Blob> {
  const { url } = await downloadURL(id, opts);
  let resp: Response;
  try {
    resp = await fetch(url, { signal: opts.signal, credentials: 'omit' });
  } catch (e) {
    if ((e as Error)?.name === 'AbortError') throw e;
    throw new SluiceError('unavailable', `cannot download from ${safeURL(url)}: the network failed or the store refused this origin (CORS)`);
  }
  if (!resp.ok) throw storeError(resp.status, await resp.text(), 'download');
  return resp.blob();
}

/** deleteFile deletes the file and its object. */
export async function deleteFile(id: string, opts: ClientOptions): Promise<void> {
  await api<void>('DELETE', `/v1/files/${encodeURIComponent(id)}`, opts);
}

/**
 * devToken gets a development ID token for sub from a sluice running its
 * development issuer on loopback (POST /dev/token). Never available in
 * production.
 */
export async function devToken(sub: string, opts: { server?: string; email?: string; signal?: AbortSignal } = {}): Promise<{ token: string; expires_at: string }> {
  return api('POST', '/dev/token', { server: opts.server, signal: opts.signal }, { sub, email: opts.email });
}

/**
 * directURL is a GET for an object written by a "direct" upload, presigned
 * in the browser with the temporary credentials (the server has no record
 * of it until its reconciler runs).
 */
export async function directURL(key: string, opts: ClientOptions): Promise<string> {
  const { directURL } = await import('./direct');
  return directURL(key, opts);
}
