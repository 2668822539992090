package app_test

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/app"
)

func load(t *testing.T, env map[string]string, args ...string) (app.Config, error) {
	t.Helper()
	cfg := app.Default()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	app.Flags(fs, &cfg)
	err := app.Load(fs, &cfg, args, func(k string) string { return env[k] })
	return cfg, err
}

func TestConfigPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sluice.yaml")
	os.WriteFile(file, []byte(`
addr: 127.0.0.1:9000
bucket: from-file
policy:
  max_size: 2048
  url_ttl: 2m
cors_origins: [https://app.example.com]
identity:
  issuers:
    - firebase: my-project
  leeway: 30s
`), 0o600)
	cfg, err := load(t, map[string]string{"SLUICE_CONFIG": file, "SLUICE_BUCKET": "from-env", "SLUICE_ADDR": "127.0.0.1:9001"},
		"--addr", "127.0.0.1:9002")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:9002" || cfg.Bucket != "from-env" || cfg.Policy.MaxSize != 2048 || cfg.Policy.URLTTL != 2*time.Minute {
		t.Errorf("flags > env > file > defaults broken: %+v", cfg)
	}
	if len(cfg.Identity.Issuers) != 1 || cfg.Identity.Issuers[0].Firebase != "my-project" || cfg.Identity.Leeway != 30*time.Second {
		t.Errorf("identity from file: %+v", cfg.Identity)
	}
	if cfg.DevIssuerOn() {
		t.Error("development issuer on although a real issuer is configured")
	}
	if cfg.S3Addr != "127.0.0.1:8081" || cfg.Policy.DownloadTTL != 5*time.Minute {
		t.Errorf("defaults lost: %+v", cfg)
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	file := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(file, []byte("bukket: typo\n"), 0o600)
	cases := []struct {
		env  map[string]string
		args []string
		want string
	}{
		{nil, []string{"--url-ttl", "2h"}, "url_ttl"},
		{nil, []string{"--max-size", "0"}, "max_size"},
		{nil, []string{"--allowed-types", "text/html"}, "allowed_types"},
		{nil, []string{"--addr", "nonsense"}, "addr"},
		{map[string]string{"SLUICE_MAX_SIZE": "lots"}, nil, "SLUICE_MAX_SIZE"},
		{map[string]string{"SLUICE_CONFIG": file}, nil, "bukket"},
	}
	for _, c := range cases {
		_, err := load(t, c.env, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v %v: error %v, want one naming %s", c.env, c.args, err, c.want)
		}
	}
}

// The Firebase Auth emulator's tokens are unsigned: the server must refuse
// to accept them anywhere but on loopback.
func TestEmulatorOnlyOnLoopback(t *testing.T) {
	file := filepath.Join(t.TempDir(), "emu.yaml")
	os.WriteFile(file, []byte("identity:\n  issuers:\n    - firebase: demo-x\n      firebase_emulator: true\n"), 0o600)
	env := map[string]string{"SLUICE_CONFIG": file}
	for _, addr := range []string{"0.0.0.0:8080", ":8080", "192.0.2.1:8080", "[::]:8080"} {
		if _, err := load(t, env, "--addr", addr); err == nil || !strings.Contains(err.Error(), "firebase_emulator") {
			t.Errorf("emulator on %s: %v, want refused", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:8080", "[::1]:8080", "localhost:8080"} {
		if _, err := load(t, env, "--addr", addr); err != nil {
			t.Errorf("emulator on %s: %v, want allowed", addr, err)
		}
	}
}

// Storage folders are users/{sub}/ whatever the issuer: two trusted issuers
// could hand out the same sub, and their users would share files. sluice
// refuses that unless the operator says the subjects cannot collide.
func TestSeveralIssuersNeedSharedSubjects(t *testing.T) {
	file := filepath.Join(t.TempDir(), "two.yaml")
	two := "identity:\n  issuers:\n    - firebase: app-a\n    - issuer: https://gitlab.example.com\n      audiences: [sluice]\n"
	os.WriteFile(file, []byte(two), 0o600)
	if _, err := load(t, map[string]string{"SLUICE_CONFIG": file}); err == nil || !strings.Contains(err.Error(), "identity.shared_subjects") {
		t.Errorf("two issuers without shared_subjects: %v, want refused naming identity.shared_subjects", err)
	}
	os.WriteFile(file, []byte(two+"  shared_subjects: true\n"), 0o600)
	if _, err := load(t, map[string]string{"SLUICE_CONFIG": file}); err != nil {
		t.Errorf("two issuers with shared_subjects: %v", err)
	}
	devAndReal := "identity:\n  dev_issuer: true\n  issuers:\n    - firebase: app-a\n"
	os.WriteFile(file, []byte(devAndReal), 0o600)
	if _, err := load(t, map[string]string{"SLUICE_CONFIG": file}); err == nil {
		t.Error("the development issuer beside a real one was accepted without shared_subjects")
	}
}
