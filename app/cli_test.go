package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/cli"
)

// sluice runs one command line in-process and returns its exit code and
// output, with env standing in for the environment.
func sluiceCmd(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errw bytes.Buffer
	e := &cli.Env{Stdout: &out, Stderr: &errw, Stdin: strings.NewReader(""), Getenv: func(k string) string { return env[k] }}
	code := cli.Run(context.Background(), e, args)
	return code, out.String(), errw.String()
}

// TestCLIAsANewUser follows the README: a development token, then upload,
// ls, get and rm of a real JPEG with the sluice command.
func TestCLIAsANewUser(t *testing.T) {
	code, tok, stderr := sluiceCmd(t, nil, "token", "--dev", "--data", srv.Config.Data, "--sub", "newuser", "--email", "new@example.com")
	if code != 0 {
		t.Fatalf("sluice token: %d %s", code, stderr)
	}
	env := map[string]string{"SLUICE_TOKEN": strings.TrimSpace(tok), "SLUICE_SERVER": srv.APIURL}

	dir := t.TempDir()
	photo := filepath.Join(dir, "photo.jpg")
	body := jpegBytes(t, 40)
	os.WriteFile(photo, body, 0o644)

	for _, method := range []string{"PUT", "POST"} {
		code, out, stderr := sluiceCmd(t, env, "upload", photo, "--method", method, "--json")
		if code != 0 {
			t.Fatalf("sluice upload --method %s: %d %s", method, code, stderr)
		}
		var f sluice.File
		if err := json.Unmarshal([]byte(out), &f); err != nil || f.SHA256 != sum(body) || f.Filename != "photo.jpg" {
			t.Fatalf("upload printed %q (%v)", out, err)
		}

		code, out, _ = sluiceCmd(t, env, "ls")
		if code != 0 || !strings.Contains(out, f.ID) {
			t.Errorf("sluice ls does not list %s: %s", f.ID, out)
		}
		got := filepath.Join(dir, "got-"+method+".jpg")
		if code, _, stderr := sluiceCmd(t, env, "get", f.ID, "-o", got); code != 0 {
			t.Fatalf("sluice get: %s", stderr)
		}
		if b, _ := os.ReadFile(got); !bytes.Equal(b, body) {
			t.Errorf("sluice get wrote %d bytes, not the uploaded ones", len(b))
		}
		if code, _, stderr := sluiceCmd(t, env, "rm", f.ID); code != 0 {
			t.Fatalf("sluice rm: %s", stderr)
		}
		if code, _, stderr := sluiceCmd(t, env, "get", f.ID, "-o", got+".2"); code == 0 || !strings.Contains(stderr, "not_found") {
			t.Errorf("get after rm: %d %s", code, stderr)
		}
	}

	text := filepath.Join(dir, "notes.txt")
	os.WriteFile(text, []byte("hello"), 0o644)
	if code, _, stderr := sluiceCmd(t, env, "upload", text); code != 1 || !strings.Contains(stderr, "content_type_not_allowed") {
		t.Errorf("upload of a text file: %d %q", code, stderr)
	}
	if code, _, stderr := sluiceCmd(t, map[string]string{"SLUICE_SERVER": srv.APIURL}, "upload", photo); code == 0 || !strings.Contains(stderr, "sluice token --dev") {
		t.Errorf("upload without a token: %d %q", code, stderr)
	}
}
