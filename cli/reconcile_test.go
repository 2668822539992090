package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `sluice reconcile` opens the configured store and ledger by itself (here
// the embedded store, on a port of its own) and settles what it finds: an
// object under users/ that nothing recorded and that was stored without a
// content type is not a verifiable upload, so it is deleted.
func TestReconcileCommand(t *testing.T) {
	data := t.TempDir() // absolute: the embedded store changes directory
	if code, out, errw := runCLI(t, "reconcile", "--data", data); code != 0 || !strings.Contains(out, "0 registered, 0 deleted") {
		t.Fatalf("first run on an empty deployment: exit %d\n%s%s", code, out, errw)
	}
	// Written behind the store's back, as a file in its bucket directory.
	planted := filepath.Join(data, "store", "objects", "sluice", "users", "ghost", "a.png")
	if err := os.MkdirAll(filepath.Dir(planted), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(planted, []byte("<html>not a png</html>"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errw := runCLI(t, "reconcile", "--data", data)
	if code != 0 || !strings.Contains(out, "0 registered, 1 deleted") {
		t.Fatalf("second run: exit %d\n%s%s", code, out, errw)
	}
	if _, err := os.Stat(planted); !os.IsNotExist(err) {
		t.Errorf("the unverifiable object is still there: %v", err)
	}
}
