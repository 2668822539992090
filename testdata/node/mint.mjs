// Mints one RS256 and one ES256 ID token with the jose library, for sluice's
// oidc interoperability test. Usage: node mint.mjs ISSUER AUDIENCE SUBJECT
// Prints {"keys":[public JWKs],"tokens":{"RS256":"...","ES256":"..."}}.
import { generateKeyPair, exportJWK, SignJWT } from 'jose';

const [iss, aud, sub] = process.argv.slice(2);
const out = { keys: [], tokens: {} };
for (const [alg, kid] of [['RS256', 'node-rs256'], ['ES256', 'node-es256']]) {
  const { publicKey, privateKey } = await generateKeyPair(alg, { modulusLength: 2048 });
  const jwk = await exportJWK(publicKey);
  Object.assign(jwk, { kid, alg, use: 'sig' });
  out.keys.push(jwk);
  out.tokens[alg] = await new SignJWT({ email: 'node@example.com', email_verified: true })
    .setProtectedHeader({ alg, kid, typ: 'JWT' })
    .setIssuer(iss)
    .setAudience(aud)
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(privateKey);
}
process.stdout.write(JSON.stringify(out));
