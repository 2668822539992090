/**
 * The page sluice serves at /: sign in (a development token, or an ID token
 * from the host app), pick or drop images, upload them by any of the
 * client's modes with per-file progress, and list, preview, download and
 * delete your files. Everything goes through the client in ../src.
 */
import {
  SluiceError, deleteFile, devToken, directURL, download, downloadURL, listFiles, tokenSubject, upload,
  type Mode, type SluiceFile,
} from '../src/index';

interface PageConfig {
  dev_tokens: boolean;
  host_origins: string[];
  max_size: number;
  allowed_types: string[];
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

let token = '';
let config: PageConfig = { dev_tokens: false, host_origins: [], max_size: 0, allowed_types: [] };

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function describe(err: unknown): { code: string; message: string } {
  if (err instanceof SluiceError) return { code: err.code, message: err.message };
  return { code: 'internal', message: err instanceof Error ? err.message : String(err) };
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1 << 20) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / (1 << 20)).toFixed(1)} MiB`;
}

function setWho(text: string, error = false) {
  const who = $('who');
  who.textContent = text;
  who.classList.toggle('error', error);
}

async function signIn(t: string) {
  t = t.trim();
  if (!t) return;
  let sub: string;
  try {
    sub = tokenSubject(t);
  } catch (e) {
    setWho(describe(e).message, true);
    return;
  }
  token = t;
  setWho(`Signed in as ${sub}.`);
  document.body.dataset.sub = sub;
  $<HTMLButtonElement>('refresh').disabled = false;
  $('drop').classList.remove('disabled');
  await refresh();
}

function mode(): Mode {
  return (document.querySelector<HTMLInputElement>('input[name=mode]:checked')?.value ?? 'presigned') as Mode;
}

async function uploadAll(files: File[]) {
  if (!token) {
    setWho('Sign in first.', true);
    return;
  }
  const m = mode();
  await Promise.all(files.map((f) => uploadOne(f, m)));
  await refresh();
}

async function uploadOne(file: File, m: Mode) {
  const li = el('li', { 'data-name': file.name, 'data-mode': m, 'data-state': 'uploading', 'data-progress-events': '0' });
  const bar = el('progress', { max: '100', value: '0' });
  const msg = el('span', { class: 'message' }, `${bytes(file.size)} · ${m}`);
  li.append(el('span', { class: 'name' }, file.name), bar, msg);
  $('uploads').prepend(li);
  let events = 0;
  try {
    const rec = await upload(file, {
      token,
      mode: m,
      onProgress: ({ loaded, total }) => {
        events++;
        li.dataset.progressEvents = String(events);
        li.dataset.loaded = String(loaded);
        li.dataset.total = String(total);
        bar.value = total ? Math.round((loaded / total) * 100) : 0;
      },
    });
    bar.value = 100;
    li.dataset.state = 'done';
    li.dataset.fileId = rec.id;
    li.dataset.key = rec.key;
    li.dataset.sha256 = rec.sha256 ?? '';
    msg.textContent = m === 'direct'
      ? `Stored as ${rec.key} with temporary credentials; sluice records it when its reconciler runs.`
      : `Stored and verified as ${rec.key}.`;
    if (m === 'direct') {
      const img = el('img', { alt: `preview of ${file.name}`, class: 'preview' });
      img.src = await directURL(rec.key, { token });
      li.append(img);
    }
  } catch (e) {
    const d = describe(e);
    li.dataset.state = 'error';
    li.dataset.errorCode = d.code;
    msg.classList.add('error');
    msg.textContent = d.message;
  }
}

async function refresh() {
  if (!token) return;
  const status = $('files-status');
  const list = $('file-list');
  let files: SluiceFile[];
  try {
    files = (await listFiles({ token, limit: 100 })).files;
  } catch (e) {
    status.textContent = describe(e).message;
    status.classList.add('error');
    return;
  }
  status.classList.remove('error');
  status.textContent = files.length ? `${files.length} file${files.length === 1 ? '' : 's'}` : 'No files yet.';
  list.replaceChildren(...files.map(fileItem));
}

function fileItem(f: SluiceFile): HTMLLIElement {
  const li = el('li', { 'data-id': f.id, 'data-sha256': f.sha256 ?? '' });
  const img = el('img', { alt: f.filename || f.id, class: 'preview', loading: 'lazy' });
  downloadURL(f.id, { token }).then((u) => { img.src = u.url; }, () => img.classList.add('broken'));
  const dl = el('button', { type: 'button', class: 'secondary download' }, 'Download');
  const del = el('button', { type: 'button', class: 'danger delete' }, 'Delete');
  const status = el('span', { class: 'meta status' });
  dl.onclick = async () => {
    try {
      const blob = await download(f.id, { token });
      const a = el('a', { download: f.filename || f.key.split('/').pop() || f.id });
      a.href = URL.createObjectURL(blob);
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
    } catch (e) {
      status.textContent = describe(e).message;
    }
  };
  del.onclick = async () => {
    del.disabled = true;
    try {
      await deleteFile(f.id, { token });
      await refresh();
    } catch (e) {
      status.textContent = describe(e).message;
      del.disabled = false;
    }
  };
  const actions = el('div', { class: 'actions' });
  actions.append(dl, del);
  li.append(img, el('span', { class: 'name' }, f.filename || f.id),
    el('span', { class: 'meta' }, `${bytes(f.size)} · ${f.content_type} · ${new Date(f.created_at).toLocaleString()}`),
    actions, status);
  return li;
}

function wireDrop() {
  const drop = $('drop');
  drop.classList.add('disabled');
  const input = $<HTMLInputElement>('file');
  input.onchange = () => {
    const files = Array.from(input.files ?? []);
    input.value = '';
    void uploadAll(files);
  };
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    void uploadAll(Array.from(e.dataTransfer?.files ?? []));
  });
}

/** The host app hands the page a token: in the fragment, or by postMessage when it frames the page. */
function wireHostTokens() {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (m) {
    history.replaceState(null, '', location.pathname + location.search);
    void signIn(decodeURIComponent(m[1]));
  }
  window.addEventListener('message', (e) => {
    const allowed = config.host_origins.includes('*') || config.host_origins.includes(e.origin);
    if (!allowed || e.data?.type !== 'sluice:token' || typeof e.data.token !== 'string') return;
    void signIn(e.data.token);
  });
  if (window.parent !== window) window.parent.postMessage({ type: 'sluice:ready' }, '*');
}

async function main() {
  try {
    const r = await fetch('/web/config.json', { credentials: 'omit' });
    if (r.ok) config = await r.json();
  } catch {
    // keep the defaults: token field only
  }
  if (config.max_size) {
    const types = config.allowed_types.map((t) => t.replace('image/', '').toUpperCase()).join(', ');
    $('policy').textContent = `Up to ${bytes(config.max_size)}: ${types}.`;
  }
  const devForm = $<HTMLFormElement>('dev-form');
  devForm.hidden = !config.dev_tokens;
  devForm.onsubmit = async (e) => {
    e.preventDefault();
    try {
      const t = await devToken($<HTMLInputElement>('dev-name').value.trim());
      await signIn(t.token);
    } catch (err) {
      setWho(describe(err).message, true);
    }
  };
  $<HTMLFormElement>('token-form').onsubmit = (e) => {
    e.preventDefault();
    void signIn($<HTMLTextAreaElement>('id-token').value);
  };
  $('refresh').onclick = () => void refresh();
  wireDrop();
  wireHostTokens();
  document.body.dataset.ready = 'true';
}

void main();
