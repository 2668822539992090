package embedded_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice/embedded"
	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/storetest"
)

func start(t *testing.T, dir string) *embedded.Server {
	t.Helper()
	s, err := embedded.Start(context.Background(), embedded.Config{
		Dir: dir, Addr: testutil.FreeAddr(t), Bucket: "sluice", CORSOrigins: []string{"http://localhost:3000"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	s := start(t, t.TempDir())
	defer s.Close()
	storetest.Run(t, s.Store, "storetest/")
}

func TestCredentialsKeptPrivateAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	s := start(t, dir)
	first := s.Creds
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("credentials mode %v, want 0600", fi.Mode().Perm())
	}
	s = start(t, dir)
	defer s.Close()
	if s.Creds != first {
		t.Error("restart generated new root credentials; existing URLs and clients would break")
	}
	if err := s.Store.Ping(context.Background()); err != nil {
		t.Errorf("bucket gone after restart: %v", err)
	}
}
