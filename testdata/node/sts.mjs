// Uses sluice's STS and embedded store with the AWS SDK for JavaScript v3,
// unmodified, for sluice's interoperability test (go test ./app/ -run STSNode).
//
// Usage: node sts.mjs STS_URL S3_URL BUCKET ROLE_ARN < id-token
// (the token comes on stdin: a command line is visible to other users).
// Prints {"assumed": {...}, "results": {"<case>": "ok" | "<Code> <status>"}}.
import { STSClient, AssumeRoleWithWebIdentityCommand } from '@aws-sdk/client-sts';
import {
  S3Client, PutObjectCommand, GetObjectCommand, ListObjectsV2Command, DeleteObjectCommand,
} from '@aws-sdk/client-s3';
import { readFileSync } from 'node:fs';

const [stsURL, s3URL, bucket, roleArn] = process.argv.slice(2);
const token = readFileSync(0, 'utf8').trim();

const sts = new STSClient({ region: 'us-east-1', endpoint: stsURL, maxAttempts: 1 });
const out = await sts.send(new AssumeRoleWithWebIdentityCommand({
  RoleArn: roleArn,
  RoleSessionName: 'node-sdk-v3',
  WebIdentityToken: token,
  DurationSeconds: 900,
}));
const sub = out.SubjectFromWebIdentityToken;
const c = out.Credentials;

const s3 = new S3Client({
  region: 'us-east-1',
  endpoint: s3URL,
  forcePathStyle: true,
  maxAttempts: 1,
  requestChecksumCalculation: 'WHEN_REQUIRED',
  credentials: {
    accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey,
    sessionToken: c.SessionToken, expiration: c.Expiration,
  },
});

const results = {};
async function attempt(name, fn) {
  try {
    await fn();
    results[name] = 'ok';
  } catch (e) {
    results[name] = `${e.name} ${e.$metadata?.httpStatusCode}`;
  }
}

const own = `users/${sub}/node-${Date.now()}.png`;
const body = 'hello from the AWS SDK for JavaScript v3';
await attempt('put own', () => s3.send(new PutObjectCommand({ Bucket: bucket, Key: own, Body: body, ContentType: 'image/png' })));
await attempt('put own, type not allowed', () => s3.send(new PutObjectCommand({ Bucket: bucket, Key: `users/${sub}/page.html`, Body: '<html>', ContentType: 'text/html' })));
await attempt('get own', async () => {
  const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: own }));
  const got = await r.Body.transformToString();
  if (got !== body) throw Object.assign(new Error('wrong bytes'), { name: 'WrongBytes' });
});
await attempt('list own', async () => {
  const r = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `users/${sub}/` }));
  if (!(r.Contents || []).some((o) => o.Key === own)) throw Object.assign(new Error('not listed'), { name: 'NotListed' });
});
await attempt('put other', () => s3.send(new PutObjectCommand({ Bucket: bucket, Key: `users/not-${sub}/x.png`, Body: 'x', ContentType: 'image/png' })));
await attempt('get other', () => s3.send(new GetObjectCommand({ Bucket: bucket, Key: `users/not-${sub}/secret.txt` })));
await attempt('list users', () => s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'users/' })));
await attempt('list bucket', () => s3.send(new ListObjectsV2Command({ Bucket: bucket })));
await attempt('put prefix sibling', () => s3.send(new PutObjectCommand({ Bucket: bucket, Key: `users/${sub}x/y.png`, Body: 'x', ContentType: 'image/png' })));
await attempt('delete own', () => s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: own })));

process.stdout.write(JSON.stringify({
  assumed: {
    subject: sub,
    accessKeyId: c.AccessKeyId,
    expiration: c.Expiration,
    arn: out.AssumedRoleUser?.Arn,
    provider: out.Provider,
    audience: out.Audience,
  },
  results,
}));
