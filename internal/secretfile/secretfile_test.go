package secretfile

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestCreateIsPrivateAndKeepsTheFirst(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "key")
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := Create(path, []byte(fmt.Sprintf("secret-%d", i))); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := Create(path, []byte("later")); err != nil {
		t.Fatal(err)
	}
	again, _ := os.ReadFile(path)
	if string(again) != string(got) || len(got) < len("secret-0") {
		t.Errorf("file changed from %q to %q: an existing secret must never be replaced", got, again)
	}
	for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700} {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v (%v), want %v", p, fi.Mode().Perm(), err, want)
		}
	}
	left, _ := os.ReadDir(filepath.Dir(path))
	if len(left) != 1 {
		t.Errorf("%d entries beside the file: temporary files left behind", len(left)-1)
	}
}
