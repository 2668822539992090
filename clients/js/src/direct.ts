/**
 * Option 4: the browser trades the user's ID token for temporary
 * credentials at sluice's STS (AssumeRoleWithWebIdentity, the AWS STS
 * protocol) and signs its own PUT to the store. The credentials reach only
 * users/{sub}/; the store enforces that. Size and type the store cannot
 * check on a client-signed request, so they are checked here against the
 * server's policy (and after the fact by the server's reconciler).
 *
 * The PUT is presigned here, not sent by the SDK, so that it goes out with
 * XMLHttpRequest and reports progress.
 */
import { STSClient, AssumeRoleWithWebIdentityCommand } from '@aws-sdk/client-sts';
import { S3RequestPresigner } from '@aws-sdk/s3-request-presigner';
import { Sha256 } from '@smithy/core/checksum';
import { HttpRequest } from '@smithy/core/protocols';
import { SluiceError, storeError } from './errors';
import { api, hexToBase64, send, sha256Hex, type ClientOptions, type Progress } from './http';
import { tokenSubject } from './token';
import type { SluiceFile } from './types';

/** GET /v1/sts/config: everything needed to use the STS and the store. */
export interface Discovery {
  sts_endpoint: string;
  role_arn: string;
  roles: string[];
  s3_endpoint: string;
  bucket: string;
  region: string;
  key_prefix: string;
  max_size: number;
  allowed_types: string[];
  max_duration_seconds: number;
}

/** Temporary credentials, as the STS hands them out. */
export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: Date;
}

const extensions: Record<string, string> = {
  'image/jpeg': '.jpg',
  'image/png': '.png',
  'image/webp': '.webp',
  'image/gif': '.gif',
  'image/heic': '.heic',
  'image/heif': '.heif',
  'image/avif': '.avif',
};

const discoveries = new Map<string, Promise<Discovery>>();
const sessions = new Map<string, { sub: string; creds: Credentials }>();

/** discovery fetches the server's STS discovery document, once per server. */
export function discovery(server?: string): Promise<Discovery> {
  const k = server ?? '';
  let d = discoveries.get(k);
  if (!d) {
    d = api<Discovery>('GET', '/v1/sts/config', { server });
    d.catch(() => discoveries.delete(k));
    discoveries.set(k, d);
  }
  return d;
}

/**
 * credentials trades the ID token for temporary credentials, reused until
 * a minute before they expire.
 */
export async function credentials(opts: ClientOptions, disc?: Discovery): Promise<{ sub: string; creds: Credentials }> {
  const cached = sessions.get(opts.token);
  if (cached && cached.creds.expiration.getTime() - Date.now() > 60_000) return cached;
  disc ??= await discovery(opts.server);
  const sts = new STSClient({ region: disc.region, endpoint: disc.sts_endpoint, maxAttempts: 2 });
  let out;
  try {
    out = await sts.send(new AssumeRoleWithWebIdentityCommand({
      RoleArn: disc.role_arn,
      RoleSessionName: 'sluice-web',
      WebIdentityToken: opts.token,
    }), { abortSignal: opts.signal as never });
  } catch (e) {
    throw stsError(e, disc.sts_endpoint);
  } finally {
    sts.destroy();
  }
  const c = out.Credentials;
  if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken) {
    throw new SluiceError('internal', 'the STS answered without credentials');
  }
  const session = {
    // The key's {sub} is the token's own; the STS verified the token and
    // scoped the credentials to that same subject.
    sub: tokenSubject(opts.token),
    creds: {
      accessKeyId: c.AccessKeyId,
      secretAccessKey: c.SecretAccessKey,
      sessionToken: c.SessionToken,
      expiration: c.Expiration ?? new Date(Date.now() + 900_000),
    },
  };
  sessions.clear(); // one user at a time: drop an earlier token's credentials
  sessions.set(opts.token, session);
  return session;
}

const stsCodes: Record<string, string> = {
  ExpiredTokenException: 'token_expired',
  InvalidIdentityToken: 'token_signature',
  IDPCommunicationError: 'identity_unavailable',
  AccessDenied: 'forbidden',
  ValidationError: 'invalid_request',
  MalformedPolicyDocument: 'invalid_request',
  ServiceUnavailable: 'unavailable',
};

function stsError(e: unknown, endpoint: string): SluiceError {
  const err = e as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  if (err?.name === 'AbortError') throw e;
  const status = err?.$metadata?.httpStatusCode ?? 0;
  if (err?.name && stsCodes[err.name]) {
    return new SluiceError(stsCodes[err.name], `the STS refused: ${err.name}: ${err.message ?? ''}`, status);
  }
  if (status) return new SluiceError('internal', `the STS refused: ${err.name}: ${err.message ?? ''}`, status);
  return new SluiceError('unavailable', `cannot get credentials from the STS at ${endpoint}: ${err?.message ?? e}`);
}

/** directUpload is upload(file, {mode: "direct"}). */
export async function directUpload(file: Blob, filename: string, contentType: string, opts: ClientOptions & { onProgress?: (p: Progress) => void }): Promise<SluiceFile> {
  const disc = await discovery(opts.server);
  if (!disc.allowed_types.includes(contentType)) {
    throw new SluiceError('content_type_not_allowed', `content_type ${JSON.stringify(contentType)} is not allowed; allowed: ${disc.allowed_types.join(', ')}`, 415);
  }
  if (file.size < 1) throw new SluiceError('invalid_size', 'the file is empty', 400);
  if (file.size > disc.max_size) {
    throw new SluiceError('too_large', `size ${file.size} exceeds the maximum of ${disc.max_size} bytes`, 413);
  }
  const sha256 = await sha256Hex(file);
  const { sub, creds } = await credentials(opts, disc);
  const id = ulid();
  const key = `${disc.key_prefix.replace('{sub}', sub)}${id}${extensions[contentType] ?? ''}`;
  const headers: Record<string, string> = { 'content-type': contentType, 'if-none-match': '*' };
  if (sha256) headers['x-amz-checksum-sha256'] = hexToBase64(sha256);
  const url = await presign(disc, creds, 'PUT', key, { ...headers, 'content-length': String(file.size) }, 300);
  const sent = await send('PUT', url, file, headers, file.size, opts.onProgress, opts.signal);
  if (sent.status < 200 || sent.status > 299) throw storeError(sent.status, sent.body, 'upload');
  return {
    id, key, filename, content_type: contentType, size: file.size, sha256,
    etag: sent.header('ETag') ?? undefined, created_at: new Date().toISOString(),
  };
}

/** directURL is a GET for one of the user's objects, presigned here with the temporary credentials. */
export async function directURL(key: string, opts: ClientOptions, expiresIn = 300): Promise<string> {
  const disc = await discovery(opts.server);
  const { creds } = await credentials(opts, disc);
  return presign(disc, creds, 'GET', key, {}, expiresIn);
}

/**
 * presign signs method on key with SigV4 query parameters. headers are
 * signed and must be sent as given (content-length the browser sets).
 */
async function presign(disc: Discovery, creds: Credentials, method: string, key: string, headers: Record<string, string>, expiresIn: number): Promise<string> {
  const base = new URL(disc.s3_endpoint);
  const path = `${base.pathname.replace(/\/+$/, '')}/${disc.bucket}/${key.split('/').map(rfc3986).join('/')}`;
  const req = new HttpRequest({
    protocol: base.protocol,
    hostname: base.hostname,
    port: base.port ? Number(base.port) : undefined,
    method,
    path,
    headers: { ...headers, host: base.host },
  });
  const presigner = new S3RequestPresigner({ credentials: creds, region: disc.region, sha256: Sha256 });
  // The checksum stays a signed header: as a query parameter the store
  // would not check the body against it.
  const signed = await presigner.presign(req, { expiresIn, unhoistableHeaders: new Set(['x-amz-checksum-sha256']) });
  const query = Object.entries(signed.query ?? {})
    .flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => `${rfc3986(k)}=${rfc3986(String(x ?? ''))}`))
    .join('&');
  return `${base.protocol}//${base.host}${path}?${query}`;
}

function rfc3986(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

const crockford = '0123456789abcdefghjkmnpqrstvwxyz';

/** ulid is a new lowercase ULID, as the Go client names direct uploads: time-ordered, 80 random bits. */
export function ulid(now = Date.now()): string {
  let t = '';
  for (let i = 0, ms = now; i < 10; i++, ms = Math.floor(ms / 32)) t = crockford[ms % 32] + t;
  const r = crypto.getRandomValues(new Uint8Array(16));
  let s = '';
  for (let i = 0; i < 16; i++) s += crockford[r[i] % 32];
  return t + s;
}
