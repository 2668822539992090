// Uppy's Dashboard with @uppy/aws-s3, signing through sluice: the page of
// docs/clients/uppy.md, driven by test/browser.mjs. The sluice server and
// the user's ID token come in the fragment (#server=…&token=…).
import Uppy from '@uppy/core';
import Dashboard from '@uppy/dashboard';
import AwsS3 from '@uppy/aws-s3';
import '@uppy/core/css/style.min.css';
import '@uppy/dashboard/css/style.min.css';

const params = new URLSearchParams(location.hash.slice(1));
const server = params.get('server');
const token = params.get('token');
history.replaceState(null, '', location.pathname); // the token leaves the address bar

async function sha256Hex(blob) {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', await blob.arrayBuffer()));
  return Array.from(d, (b) => b.toString(16).padStart(2, '0')).join('');
}

async function sluice(method, path, body, signal) {
  const r = await fetch(server + path, {
    method,
    signal,
    headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await r.json();
  if (!r.ok) throw new Error(`${json.error.code}: ${json.error.message}`);
  return json;
}

const uppy = new Uppy({ restrictions: { allowedFileTypes: ['image/*'] } })
  .use(Dashboard, { inline: true, target: '#uppy', height: 420, proudlyDisplayPoweredByUppy: false })
  .use(AwsS3, {
    shouldUseMultipart: false, // sluice grants single write-once PUTs
    async getUploadParameters(file, { signal }) {
      const grant = await sluice('POST', '/v1/uploads', {
        filename: file.name,
        content_type: file.type,
        size: file.size,
        sha256: await sha256Hex(file.data),
        method: 'PUT',
      }, signal);
      uppy.setFileMeta(file.id, { sluiceUploadId: grant.id });
      // Exactly the signed headers: Content-Type, If-None-Match, x-amz-checksum-sha256.
      return { method: 'PUT', url: grant.url, headers: grant.headers };
    },
  });

// Nothing is a file until sluice has verified it: complete each upload.
const completions = [];
uppy.on('upload-success', (file) => {
  const id = uppy.getFile(file.id).meta.sluiceUploadId;
  completions.push(sluice('POST', `/v1/uploads/${id}/complete`).then(
    (rec) => ({ name: file.name, ok: true, file: rec }),
    (e) => ({ name: file.name, ok: false, error: String(e.message) }),
  ));
});
uppy.on('complete', async (result) => {
  const done = await Promise.all(completions);
  window.__uppyResult = {
    successful: result.successful.map((f) => f.name),
    failed: result.failed.map((f) => ({ name: f.name, error: String(f.error) })),
    completed: done,
  };
  document.getElementById('log').textContent = JSON.stringify(window.__uppyResult, null, 2);
});
window.__uppy = uppy;
