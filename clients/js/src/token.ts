import { SluiceError } from './errors';

/** tokenSubject reads sub from an ID token's payload (unverified: the server verifies). */
export function tokenSubject(token: string): string {
  const part = token.split('.')[1];
  if (!part) throw new SluiceError('token_malformed', 'the ID token is not a JWT');
  try {
    const bin = atob(part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '='));
    const sub = JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)))).sub;
    if (typeof sub === 'string' && sub) return sub;
  } catch {
    // fall through
  }
  throw new SluiceError('token_malformed', 'the ID token names no subject');
}
