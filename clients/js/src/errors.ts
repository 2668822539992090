/**
 * The one error type of the client. `code` is sluice's stable error code
 * (docs/api.md), from the server's `{"error":{"code","message"}}` answer,
 * or the code the client gives a refusal by the store, the STS or the
 * network, as the Go client does.
 */
export class SluiceError extends Error {
  /** sluice's error code, e.g. "too_large", "content_type_not_allowed". */
  readonly code: string;
  /** HTTP status of the answer; 0 when there was none (network, CORS). */
  readonly status: number;
  /** The server's X-Request-Id, to find the request in its log. */
  readonly requestId?: string;

  constructor(code: string, message: string, status = 0, requestId?: string) {
    super(message);
    this.name = 'SluiceError';
    this.code = code;
    this.status = status;
    this.requestId = requestId;
  }
}

/** Codes for answers that carry no sluice error body (mirrors the Go client). */
const statusCodes: Record<number, string> = {
  400: 'invalid_request',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  409: 'conflict',
  410: 'grant_expired',
  413: 'too_large',
  415: 'content_type_not_allowed',
  429: 'rate_limited',
  500: 'internal',
  503: 'unavailable',
};

export function codeForStatus(status: number): string {
  if (statusCodes[status]) return statusCodes[status];
  if (status === 502 || status === 504) return 'unavailable';
  return status >= 500 ? 'internal' : 'invalid_request';
}

/** S3 error codes a presigned or client-signed request meets. */
const s3Codes: Record<string, string> = {
  AccessDenied: 'forbidden',
  SignatureDoesNotMatch: 'forbidden',
  InvalidAccessKeyId: 'forbidden',
  ExpiredToken: 'token_expired',
  InvalidToken: 'token_signature',
  BadDigest: 'checksum_mismatch',
  InvalidDigest: 'checksum_mismatch',
  EntityTooLarge: 'size_mismatch',
  EntityTooSmall: 'size_mismatch',
  IncompleteBody: 'size_mismatch',
  NoSuchKey: 'not_found',
  SlowDown: 'unavailable',
};

/** storeError explains a refusal by the store from its status and S3 XML error. */
export function storeError(status: number, body: string, what: string): SluiceError {
  const code = /<Code>([^<]*)<\/Code>/.exec(body)?.[1] ?? '';
  const msg = /<Message>([^<]*)<\/Message>/.exec(body)?.[1] ?? '';
  let c = s3Codes[code];
  if (!c) {
    if (status === 412) c = 'conflict'; // If-None-Match: * refused: the URL was used
    else if (status >= 500) c = 'unavailable';
    else c = codeForStatus(status);
  }
  let text = `the store refused the ${what}: HTTP ${status}`;
  if (code) text += ` (S3 ${code}${msg ? ': ' + msg.slice(0, 200) : ''})`;
  return new SluiceError(c, text, status);
}

/** networkError is a request that got no answer the page may read. */
export function networkError(url: string, what: string): SluiceError {
  const target = safeURL(url);
  const here = typeof location !== 'undefined' ? location.origin : '';
  const cors = here && new URL(url, location.href).origin !== here
    ? ` or the browser refused the answer (CORS: is ${here} among the origins it allows?)`
    : '';
  return new SluiceError('unavailable', `cannot ${what} ${target}: the network failed${cors}`, 0);
}

/**
 * safeURL is a URL without its query and fragment: a presigned URL's query
 * is its signature, a bearer credential, and never goes into a message.
 */
export function safeURL(url: string): string {
  try {
    const u = new URL(url, typeof location !== 'undefined' ? location.href : undefined);
    return u.origin + u.pathname;
  } catch {
    return '(URL)';
  }
}
