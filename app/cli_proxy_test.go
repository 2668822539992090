package app_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
)

// TestCLIUploadThroughSluice: `sluice upload --proxy` and `--resumable`
// store the file as the presigned route does, and say so in the same way.
func TestCLIUploadThroughSluice(t *testing.T) {
	env := map[string]string{"SLUICE_TOKEN": tokenFor(t, "fern"), "SLUICE_SERVER": srv.APIURL}
	dir := t.TempDir()
	photo := filepath.Join(dir, "photo.jpg")
	body := jpegBytes(t, 70)
	os.WriteFile(photo, body, 0o644)
	big := filepath.Join(dir, "big.png")
	bigBody := bigPNG(9 << 20)
	os.WriteFile(big, bigBody, 0o644)

	for _, c := range []struct {
		flag, path string
		body       []byte
		method     string
	}{
		{"--proxy", photo, body, sluice.MethodProxy},
		{"--resumable", photo, body, sluice.MethodTus},
		{"--resumable", big, bigBody, sluice.MethodTus},
	} {
		code, out, stderr := sluiceCmd(t, env, "upload", c.path, c.flag, "--json")
		if code != 0 {
			t.Fatalf("sluice upload %s: %d %s", c.flag, code, stderr)
		}
		var f sluice.File
		if err := json.Unmarshal([]byte(out), &f); err != nil || f.SHA256 != sum(c.body) || f.Filename != filepath.Base(c.path) {
			t.Fatalf("upload %s printed %q (%v)", c.flag, out, err)
		}
		if g := state(t, env["SLUICE_TOKEN"], f.ID); g.Method != c.method || g.State != sluice.GrantComplete {
			t.Errorf("%s: grant %+v, want a complete %s grant", c.flag, g, c.method)
		}
	}

	text := filepath.Join(dir, "notes.txt")
	os.WriteFile(text, []byte("hello"), 0o644)
	for _, flag := range []string{"--proxy", "--resumable"} {
		if code, _, stderr := sluiceCmd(t, env, "upload", text, flag); code != 1 || !strings.Contains(stderr, "content_type_not_allowed") {
			t.Errorf("%s of a text file: %d %q", flag, code, stderr)
		}
	}
	if code, _, stderr := sluiceCmd(t, env, "upload", photo, "--proxy", "--resumable"); code != 2 || !strings.Contains(stderr, "pick one") {
		t.Errorf("two routes at once: %d %q", code, stderr)
	}
	if code, _, stderr := sluiceCmd(t, env, "upload", photo, "--proxy", "--method", "POST"); code != 2 || !strings.Contains(stderr, "--method") {
		t.Errorf("--proxy with --method POST: %d %q", code, stderr)
	}
}
