// Builds the page sluice embeds (web/dist, committed: `go build` needs no
// npm) and the client library (dist/, not committed).
//
//   node build.mjs          build both
//   node build.mjs --check  build the page in memory and fail if web/dist
//                           differs (go test ./web runs this)
import * as esbuild from 'esbuild';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const webDist = join(here, '..', '..', 'web', 'dist');
const check = process.argv.includes('--check');

const common = {
  bundle: true,
  format: 'esm',
  splitting: true, // the AWS SDK (option 4) is a chunk loaded on first use
  platform: 'browser',
  target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
  minify: true,
  legalComments: 'eof',
  chunkNames: 'chunks/[name]-[hash]',
  logLevel: 'warning',
  absWorkingDir: here,
};

// page returns the files of web/dist, by name.
async function page() {
  const res = await esbuild.build({
    ...common,
    entryPoints: { app: 'page/main.ts' },
    outdir: webDist,
    write: false,
  });
  const files = new Map();
  for (const f of res.outputFiles) files.set(relative(webDist, f.path), Buffer.from(f.contents));
  files.set('index.html', readFileSync(join(here, 'page', 'index.html')));
  files.set('app.css', readFileSync(join(here, 'page', 'style.css')));
  return files;
}

function listDir(dir, base = dir) {
  let out = [];
  let entries = [];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out = out.concat(listDir(p, base));
    else out.push(relative(base, p));
  }
  return out;
}

const built = await page();
if (check) {
  const problems = [];
  for (const [name, body] of built) {
    let have;
    try {
      have = readFileSync(join(webDist, name));
    } catch {
      problems.push(`missing: web/dist/${name}`);
      continue;
    }
    if (!have.equals(body)) problems.push(`differs: web/dist/${name}`);
  }
  for (const name of listDir(webDist)) {
    if (!built.has(name)) problems.push(`not built any more: web/dist/${name}`);
  }
  if (problems.length) {
    console.error(`web/dist is stale relative to clients/js:\n  ${problems.join('\n  ')}\nRebuild it: cd clients/js && npm ci && npm run build`);
    process.exit(1);
  }
  console.log(`web/dist is up to date (${built.size} files)`);
} else {
  rmSync(webDist, { recursive: true, force: true });
  for (const [name, body] of built) {
    mkdirSync(dirname(join(webDist, name)), { recursive: true });
    writeFileSync(join(webDist, name), body);
  }
  await esbuild.build({ ...common, entryPoints: { sluice: 'src/index.ts' }, outdir: join(here, 'dist') });
  for (const [name, body] of built) console.log(`web/dist/${name}  ${(body.length / 1024).toFixed(1)} KiB`);
}
