// Drives Debian's Chromium with playwright-core through sluice's page, the
// client on other origins and Uppy, for the Go tests in web/browser_test.go,
// which start the real server, run this once per case and check what it
// reports against the API and the store.
//
// Usage: node test/browser.mjs < case.json   (a token never goes on a command line)
// case.json: {"case": "mode"|"refused"|"delete"|"cors"|"uppy", "api": URL, "outDir": DIR, ...}
// Prints one JSON result on stdout. On failure: a screenshot in outDir, the
// error and the page's console on stderr, exit status 1.
import { chromium } from 'playwright-core';
import * as esbuild from 'esbuild';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const pkg = join(here, '..');
const input = JSON.parse(readFileSync(0, 'utf8'));
const timeout = 45_000;

// What the machine doc says Chromium needs here: no sandbox as root, and no
// background networking (this machine's network is closed).
const browser = await chromium.launch({
  executablePath: process.env.SLUICE_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1100, height: 900 } });
context.setDefaultTimeout(timeout);
const page = await context.newPage();
const consoleLines = [];
page.on('console', (m) => consoleLines.push(`${m.type()}: ${redact(m.text())}`));
page.on('pageerror', (e) => consoleLines.push(`pageerror: ${redact(String(e))}`));
const servers = [];

// redact strips queries and fragments from URLs: presigned URLs' queries
// and #token= fragments are credentials, and this output lands in test logs.
function redact(s) {
  return String(s).replace(/(https?:\/\/[^\s'"?#]+)[?#][^\s'"]*/g, '$1?…');
}

const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');
const fileArg = (p) => ({ name: basename(p), b64: readFileSync(p).toString('base64'), type: mimeOf(p) });

function mimeOf(p) {
  const ext = p.slice(p.lastIndexOf('.') + 1).toLowerCase();
  return { jpg: 'image/jpeg', jpeg: 'image/jpeg', png: 'image/png', gif: 'image/gif', webp: 'image/webp', txt: 'text/plain' }[ext] ?? '';
}

/** serve answers GET path from files ({path: [type, body]}) on 127.0.0.1:port. */
function serve(port, files) {
  const srv = createServer((req, res) => {
    const f = files[new URL(req.url, 'http://x').pathname];
    if (!f) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'Content-Type': f[0], 'Cache-Control': 'no-store' }).end(f[1]);
  });
  servers.push(srv);
  return new Promise((resolve, reject) => srv.listen(port, '127.0.0.1', resolve).on('error', reject));
}

async function signIn(sub) {
  await page.goto(input.api + '/');
  await page.waitForSelector('body[data-ready=true]');
  await page.fill('#dev-name', sub);
  await page.click('#dev-signin');
  await page.waitForFunction((s) => document.getElementById('who').textContent.includes(`Signed in as ${s}.`), sub);
}

async function chooseMode(mode) {
  await page.check(`input[name=mode][value=${mode}]`);
}

/** give hands files to the page: through the file picker, or dropped on the drop zone. */
async function give(files, via) {
  if (via !== 'drop') {
    await page.setInputFiles('#file', files);
    return;
  }
  const dt = await page.evaluateHandle((fs) => {
    const dt = new DataTransfer();
    for (const f of fs) dt.items.add(new File([Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0))], f.name, { type: f.type }));
    return dt;
  }, files.map(fileArg));
  await page.dispatchEvent('#drop', 'dragover', { dataTransfer: dt });
  await page.dispatchEvent('#drop', 'drop', { dataTransfer: dt });
}

/** finished waits for the upload row of name to leave "uploading" and reads what it shows. */
async function finished(name) {
  const sel = `#uploads li[data-name="${name}"]`;
  await page.waitForSelector(`${sel}:not([data-state=uploading])`);
  return page.$eval(sel, (li) => ({
    name: li.dataset.name,
    state: li.dataset.state,
    fileId: li.dataset.fileId ?? '',
    key: li.dataset.key ?? '',
    sha256: li.dataset.sha256 ?? '',
    code: li.dataset.errorCode ?? '',
    message: li.querySelector('.message').textContent,
    progressEvents: Number(li.dataset.progressEvents ?? 0),
    loaded: Number(li.dataset.loaded ?? 0),
    total: Number(li.dataset.total ?? 0),
    bar: Number(li.querySelector('progress').value),
  }));
}

/** imageWidth waits for an image to load and returns its natural width (0: broken). */
async function imageWidth(sel) {
  await page.waitForFunction((s) => {
    const img = document.querySelector(s);
    return img && img.getAttribute('src') && img.complete;
  }, sel);
  return page.$eval(sel, (img) => img.naturalWidth);
}

const cases = {
  // One image through the page by one mode: progress, the record it shows,
  // the preview, and the bytes of a download.
  async mode() {
    await signIn(input.sub);
    await chooseMode(input.mode);
    await give([input.file], input.via);
    const row = await finished(basename(input.file));
    const out = { row };
    if (row.state !== 'done') return out;
    if (input.mode === 'direct') {
      out.previewWidth = await imageWidth(`#uploads li[data-name="${row.name}"] img.preview`);
      return out;
    }
    const item = `#file-list li[data-id="${row.fileId}"]`;
    await page.waitForSelector(item);
    out.listedSha256 = await page.$eval(item, (li) => li.dataset.sha256);
    out.previewWidth = await imageWidth(`${item} img.preview`);
    const [dl] = await Promise.all([page.waitForEvent('download'), page.click(`${item} button.download`)]);
    out.downloadName = dl.suggestedFilename();
    out.downloadSha256 = sha256(readFileSync(await dl.path()));
    return out;
  },

  // Uploads the server refuses: each row must show the server's message.
  async refused() {
    await signIn(input.sub);
    await chooseMode(input.mode ?? 'presigned');
    await give(input.files, 'pick');
    const rows = [];
    for (const f of input.files) rows.push(await finished(basename(f)));
    return { rows };
  },

  // Upload, then delete from the list.
  async delete() {
    await signIn(input.sub);
    await give([input.file], 'pick');
    const row = await finished(basename(input.file));
    if (row.state !== 'done') return { row };
    const item = `#file-list li[data-id="${row.fileId}"]`;
    await page.waitForSelector(item);
    await page.click(`${item} button.delete`);
    await page.waitForSelector(item, { state: 'detached' });
    return { row, status: await page.textContent('#files-status') };
  },

  // The client on two other origins: one in cors_origins, one not.
  async cors() {
    const lib = await esbuild.build({
      entryPoints: [join(pkg, 'src', 'index.ts')], bundle: true, format: 'esm', platform: 'browser',
      write: false, logLevel: 'warning',
    });
    const files = {
      '/': ['text/html', readFileSync(join(here, 'harness', 'index.html'))],
      '/sluice.js': ['text/javascript', Buffer.from(lib.outputFiles[0].contents)],
    };
    await serve(input.allowedPort, files);
    await serve(input.deniedPort, files);
    const file = fileArg(input.file);
    const out = {};

    await page.goto(`http://127.0.0.1:${input.deniedPort}/`);
    await page.waitForSelector('body[data-ready=true]');
    out.denied = await page.evaluate(async ({ api, token, put, file }) => {
      const res = {};
      try {
        await window.sluice.listFiles({ server: api, token });
        res.api = { ok: true };
      } catch (e) {
        res.api = { ok: false, code: e.code, message: e.message, status: e.status };
      }
      // A presigned PUT granted to this user, sent from this origin.
      res.store = await new Promise((resolve) => {
        const xhr = new XMLHttpRequest();
        xhr.open('PUT', put.url);
        for (const [k, v] of Object.entries(put.headers)) xhr.setRequestHeader(k, v);
        xhr.onload = () => resolve({ ok: true, status: xhr.status });
        xhr.onerror = () => resolve({ ok: false, status: xhr.status });
        xhr.send(new Blob([Uint8Array.from(atob(file.b64), (c) => c.charCodeAt(0))], { type: file.type }));
      });
      return res;
    }, { api: input.api, token: input.token, put: input.put, file });

    await page.goto(`http://127.0.0.1:${input.allowedPort}/`);
    await page.waitForSelector('body[data-ready=true]');
    out.allowed = await page.evaluate(async ({ api, token, modes, file }) => {
      const res = {};
      for (const mode of modes) {
        const blob = new File([Uint8Array.from(atob(file.b64), (c) => c.charCodeAt(0))], `${mode}-${file.name}`, { type: file.type });
        let events = 0;
        try {
          const rec = await window.sluice.upload(blob, { server: api, token, mode, onProgress: () => events++ });
          res[mode] = { ok: true, file: rec, events };
        } catch (e) {
          res[mode] = { ok: false, code: e.code, message: e.message };
        }
      }
      return res;
    }, { api: input.api, token: input.token, modes: input.modes, file });
    return out;
  },

  // A production page takes its token from the host app: in the fragment,
  // or by postMessage from an allowed origin that frames it.
  async host() {
    const out = {};
    await page.goto(`${input.api}/#token=${encodeURIComponent(input.fragmentToken)}`);
    await page.waitForSelector('body[data-ready=true]');
    await page.waitForFunction(() => document.getElementById('who').textContent.startsWith('Signed in'));
    out.fragment = { who: await page.textContent('#who'), urlHasToken: page.url().includes('token') };

    const hostPage = (token) => `<!doctype html><meta charset="utf-8"><title>host app</title>
<iframe id="sluice" src="${input.api}/" width="1000" height="800"></iframe>
<script>
  const api = ${JSON.stringify(input.api)};
  window.addEventListener('message', (e) => {
    if (e.origin === api && e.data && e.data.type === 'sluice:ready') {
      document.getElementById('sluice').contentWindow.postMessage({ type: 'sluice:token', token: ${JSON.stringify(token)} }, api);
    }
  });
</script>`;
    await serve(input.allowedPort, { '/': ['text/html', hostPage(input.token)] });
    await serve(input.deniedPort, { '/': ['text/html', hostPage(input.token)] });

    await page.goto(`http://127.0.0.1:${input.allowedPort}/`);
    const frame = page.frameLocator('#sluice');
    await frame.locator('body[data-ready=true]').waitFor();
    await frame.locator('#who', { hasText: 'Signed in' }).waitFor();
    out.framed = { who: await frame.locator('#who').textContent() };
    await frame.locator('#file').setInputFiles(input.file);
    const row = frame.locator(`#uploads li[data-name="${basename(input.file)}"]:not([data-state=uploading])`);
    await row.waitFor();
    out.framed.state = await row.getAttribute('data-state');
    out.framed.key = await row.getAttribute('data-key');
    out.framed.message = await row.locator('.message').textContent();

    // An origin outside cors_origins cannot frame the page (frame-ancestors).
    await page.goto(`http://127.0.0.1:${input.deniedPort}/`);
    await page.waitForLoadState('load');
    const denied = page.frames().find((f) => f !== page.mainFrame());
    out.deniedFrame = Boolean(denied);
    out.deniedFramed = denied ? Boolean(await denied.$('#who').catch(() => null)) : false;
    return out;
  },

  // Uppy's Dashboard with @uppy/aws-s3 signing through sluice.
  async uppy() {
    const res = await esbuild.build({
      entryPoints: { main: join(here, 'uppy', 'main.js') }, bundle: true, format: 'esm', platform: 'browser',
      outdir: join(here, 'uppy', 'out'), write: false, logLevel: 'warning', loader: { '.svg': 'dataurl' },
    });
    const files = { '/': ['text/html', readFileSync(join(here, 'uppy', 'index.html'))] };
    for (const f of res.outputFiles) {
      const name = basename(f.path);
      files['/' + name] = [name.endsWith('.css') ? 'text/css' : 'text/javascript', Buffer.from(f.contents)];
    }
    await serve(input.allowedPort, files);
    const frag = new URLSearchParams({ server: input.api, token: input.token });
    await page.goto(`http://127.0.0.1:${input.allowedPort}/#${frag}`);
    await page.waitForSelector('.uppy-Dashboard');
    await page.locator('input.uppy-Dashboard-input').first().setInputFiles(input.files);
    await page.click('.uppy-StatusBar-actionBtn--upload');
    await page.waitForFunction(() => window.__uppyResult, null, { timeout: 60_000 });
    return page.evaluate(() => window.__uppyResult);
  },
};

const shotName = () => `${input.case}${input.mode ? '-' + input.mode : ''}`;

let code = 0;
try {
  const run = cases[input.case];
  if (!run) throw new Error(`unknown case ${input.case}`);
  const result = await run();
  result.console = consoleLines;
  await page.screenshot({ path: join(input.outDir, `${shotName()}.png`), fullPage: true });
  process.stdout.write(JSON.stringify(result));
} catch (e) {
  code = 1;
  const shot = join(input.outDir, `${shotName()}-failure.png`);
  try {
    await page.screenshot({ path: shot, fullPage: true });
    console.error(`screenshot: ${shot}`);
  } catch (se) {
    console.error(`no screenshot: ${se.message}`);
  }
  console.error(redact(e.stack ?? e));
  console.error('page console:\n  ' + consoleLines.join('\n  '));
} finally {
  for (const s of servers) s.close();
  await browser.close();
}
process.exit(code);
