package app_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/sts"
)

// line finds doctor's report line for a check, e.g. ("ok", "store").
func line(out, verdict, check string) bool {
	return regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(verdict) + `\s+` + check + `\s`).MatchString(out)
}

func embeddedDoctorArgs(extra ...string) []string {
	return append([]string{"doctor", "--data", srv.Config.Data, "--s3-addr", srv.Config.S3Addr, "--cors-origins", "http://app.example", "--server", srv.APIURL}, extra...)
}

// TestDoctorEmbedded runs doctor against the running embedded store, as a
// developer would next to `sluice serve`.
func TestDoctorEmbedded(t *testing.T) {
	code, out, stderr := sluiceCmd(t, nil, embeddedDoctorArgs()...)
	if code != 0 {
		t.Fatalf("doctor: exit %d\n%s%s", code, out, stderr)
	}
	for _, want := range [][2]string{{"ok", "store"}, {"ok", "upload"}, {"ok", "cors"}, {"ok", "clock"}, {"ok", "identity"}, {"skip", "ledger"}, {"ok", "sts"}} {
		if !line(out, want[0], want[1]) {
			t.Errorf("no %q line for %s in:\n%s", want[0], want[1], out)
		}
	}
	if line(out, "skip", "sts") || line(out, "FAIL", "sts") {
		t.Errorf("the STS of a running embedded server should check out:\n%s", out)
	}
	for _, want := range []string{"replayed PUT is refused", "POST policy upload accepted", "exposes ETag", srv.APIURL + "/dev: signing keys fetched",
		"sts-keys.json: 1 key(s)", "role " + sts.DefaultRoleARN + " can be assumed with tokens from " + srv.APIURL + "/dev", "got InvalidIdentityToken"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

// Each failure names what is wrong and how to fix it, and fails the run.
func TestDoctorExplainsFailures(t *testing.T) {
	t.Run("origin not allowed", func(t *testing.T) {
		code, out, _ := sluiceCmd(t, nil, embeddedDoctorArgs("--origin", "https://evil.example")...)
		if code != 1 || !line(out, "FAIL", "cors") || !strings.Contains(out, "put-bucket-cors") || !strings.Contains(out, "https://evil.example") {
			t.Errorf("exit %d, want 1 with a CORS failure and its fix:\n%s", code, out)
		}
	})
	t.Run("no such bucket", func(t *testing.T) {
		code, out, _ := sluiceCmd(t, nil, embeddedDoctorArgs("--bucket", "no-such-bucket")...)
		if code != 1 || !line(out, "FAIL", "store") || !strings.Contains(out, "creates its bucket on start") {
			t.Errorf("exit %d, want 1 with a store failure saying how the bucket is made:\n%s", code, out)
		}
		if !line(out, "skip", "upload") {
			t.Errorf("checks that need the bucket should skip, not fail again:\n%s", out)
		}
	})
	t.Run("store not running", func(t *testing.T) {
		code, out, _ := sluiceCmd(t, nil, "doctor", "--data", srv.Config.Data, "--s3-addr", freeAddr())
		if code != 1 || !line(out, "FAIL", "store") || !strings.Contains(out, "is `sluice serve` running") {
			t.Errorf("exit %d, want 1 saying nothing answers:\n%s", code, out)
		}
	})
	t.Run("issuer unreachable", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "sluice.yaml")
		os.WriteFile(file, []byte(fmt.Sprintf("identity:\n  issuers:\n    - issuer: http://%s/realm\n      audiences: [sluice]\n", freeAddr())), 0o600)
		code, out, _ := sluiceCmd(t, nil, append(embeddedDoctorArgs(), "--config", file)...)
		if code != 1 || !line(out, "FAIL", "identity") || !strings.Contains(out, "keys unreachable") {
			t.Errorf("exit %d, want 1 with an identity failure:\n%s", code, out)
		}
	})
}

// TestDoctorSeaweedFS checks a production-shaped configuration (store.type
// s3, credentials from the AWS environment, an external issuer) against a
// real SeaweedFS, before and after its bucket gets CORS rules that leave the
// app's origin out.
func TestDoctorSeaweedFS(t *testing.T) {
	w := testutil.StartSeaweedFS(t)
	w.CreateBucket(t, "doctor-bucket")
	issuer := startIssuer(t)
	t.Setenv("AWS_ACCESS_KEY_ID", w.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", w.SecretKey)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	file := filepath.Join(t.TempDir(), "sluice.yaml")
	os.WriteFile(file, []byte(fmt.Sprintf(`
cors_origins: [https://app.example.com]
store:
  type: s3
  s3:
    endpoint: %s
    bucket: doctor-bucket
    path_style: true
    post_policy: true
identity:
  issuers:
    - issuer: %s
      audiences: [%s]
`, w.Endpoint, issuer.IssuerConfig().Issuer, issuer.IssuerConfig().Audiences[0])), 0o600)
	args := []string{"doctor", "--config", file, "--data", t.TempDir()}

	code, out, stderr := sluiceCmd(t, nil, args...)
	if code != 0 {
		t.Fatalf("doctor: exit %d\n%s%s", code, out, stderr)
	}
	for _, want := range [][2]string{{"ok", "store"}, {"ok", "upload"}, {"ok", "cors"}, {"ok", "clock"}, {"ok", "identity"}, {"skip", "sts"}} {
		if !line(out, want[0], want[1]) {
			t.Errorf("no %q line for %s in:\n%s", want[0], want[1], out)
		}
	}

	// Bucket rules replace SeaweedFS's allow-all default: now the app's
	// origin is out, and doctor must say so and show the rules it found.
	_, err := w.Client().PutBucketCors(context.Background(), &s3.PutBucketCorsInput{
		Bucket: aws.String("doctor-bucket"),
		CORSConfiguration: &types.CORSConfiguration{CORSRules: []types.CORSRule{{
			AllowedOrigins: []string{"https://other.example.com"}, AllowedMethods: []string{"PUT"}, AllowedHeaders: []string{"*"},
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	code, out, _ = sluiceCmd(t, nil, args...)
	if code != 1 || !line(out, "FAIL", "cors") || !strings.Contains(out, "https://other.example.com") {
		t.Errorf("doctor with the origin left out: exit %d, want 1, a CORS failure quoting the bucket's rules:\n%s", code, out)
	}
}

// TestMigrateAndDoctorLedger: doctor finds an unmigrated Postgres, `sluice
// migrate` migrates it, and doctor is then satisfied.
func TestMigrateAndDoctorLedger(t *testing.T) {
	dsn := testutil.PostgresDSN(t)
	env := map[string]string{"SLUICE_LEDGER_TYPE": "postgres", "SLUICE_LEDGER_DSN": dsn}
	code, out, _ := sluiceCmd(t, env, embeddedDoctorArgs()...)
	if code != 1 || !line(out, "FAIL", "ledger") || !strings.Contains(out, "sluice migrate") {
		t.Fatalf("doctor on an empty database: exit %d, want 1 telling to run sluice migrate:\n%s", code, out)
	}
	code, out, stderr := sluiceCmd(t, env, "migrate", "--data", t.TempDir())
	if code != 0 || !strings.Contains(out, "migrated from version 0") {
		t.Fatalf("migrate: exit %d: %s%s", code, out, stderr)
	}
	code, out, _ = sluiceCmd(t, env, "migrate", "--data", t.TempDir())
	if code != 0 || !strings.Contains(out, "already at version") {
		t.Errorf("second migrate: exit %d: %s", code, out)
	}
	code, out, _ = sluiceCmd(t, env, embeddedDoctorArgs()...)
	if code != 0 || !line(out, "ok", "ledger") {
		t.Errorf("doctor after migrate: exit %d:\n%s", code, out)
	}
	if strings.Contains(out, dsn) || strings.Contains(out+stderr, passwordOf(dsn)) {
		t.Error("doctor printed the DSN's password")
	}
}

func passwordOf(dsn string) string {
	m := regexp.MustCompile(`://[^:]*:([^@]*)@`).FindStringSubmatch(dsn)
	if m == nil {
		return "\x00no password\x00"
	}
	return m[1]
}

// writeConfig writes a config file for one test.
func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "sluice.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// TestDoctorSTS checks option 4's setup next to the running server: the
// master key file, the roles against the trusted issuers, and the live
// endpoint; with store.type s3 sluice's STS does not run and doctor says so.
func TestDoctorSTS(t *testing.T) {
	keys, err := os.ReadFile(filepath.Join(srv.Config.Data, "sts-keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("key file readable by others", func(t *testing.T) {
		kf := filepath.Join(t.TempDir(), "keys.json")
		os.WriteFile(kf, keys, 0o600)
		os.Chmod(kf, 0o644)
		file := writeConfig(t, "sts:\n  key_file: "+kf+"\n")
		code, out, _ := sluiceCmd(t, nil, embeddedDoctorArgs("--config", file)...)
		if code != 1 || !line(out, "FAIL", "sts") || !strings.Contains(out, "mode 0644") || !strings.Contains(out, "chmod 600 "+kf) {
			t.Errorf("exit %d, want 1 with a key file failure and the chmod that fixes it:\n%s", code, out)
		}
		if !strings.Contains(out, "got InvalidIdentityToken") {
			t.Errorf("the live probe should still run:\n%s", out)
		}
		os.Chmod(kf, 0o600)
		code, out, _ = sluiceCmd(t, nil, embeddedDoctorArgs("--config", file)...)
		if code != 0 || line(out, "FAIL", "sts") {
			t.Errorf("after chmod 600: exit %d:\n%s", code, out)
		}
	})
	t.Run("no key file", func(t *testing.T) {
		kf := filepath.Join(t.TempDir(), "missing.json")
		file := writeConfig(t, "sts:\n  key_file: "+kf+"\n")
		code, out, _ := sluiceCmd(t, nil, embeddedDoctorArgs("--config", file)...)
		if code != 1 || !line(out, "FAIL", "sts") || !strings.Contains(out, "creates it (mode 0600) on first start") {
			t.Errorf("exit %d, want 1 saying how the key file is made:\n%s", code, out)
		}
		if _, err := os.Stat(kf); err == nil {
			t.Error("doctor created the key file")
		}
	})
	t.Run("role names an unknown issuer", func(t *testing.T) {
		file := writeConfig(t, `sts:
  roles:
    - arn: `+sts.DefaultRoleARN+`
    - arn: arn:aws:iam::000000000000:role/partners
      issuers: [https://login.partner.example/]
    - arn: arn:aws:iam::000000000000:role/wrong-audience
      audiences: [not-sluice]
`)
		code, out, _ := sluiceCmd(t, nil, embeddedDoctorArgs("--config", file)...)
		if code != 1 || !line(out, "FAIL", "sts") {
			t.Fatalf("exit %d, want 1 with STS failures:\n%s", code, out)
		}
		for _, want := range []string{
			`role arn:aws:iam::000000000000:role/partners (sts.roles[1].issuers) names ["https://login.partner.example/"], not among the configured identity issuers`,
			"no token can ever assume the role", "add the issuer to identity.issuers",
			`role arn:aws:iam::000000000000:role/wrong-audience (sts.roles[2].audiences) wants audience ["not-sluice"]`,
			"role " + sts.DefaultRoleARN + " can be assumed",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("report lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("server not running", func(t *testing.T) {
		code, out, _ := sluiceCmd(t, nil, embeddedDoctorArgs("--server", "http://"+freeAddr())...)
		if code != 0 || !line(out, "skip", "sts") || !strings.Contains(out, "no server answers") || line(out, "FAIL", "sts") {
			t.Errorf("exit %d, want 0 with the live probe skipped:\n%s", code, out)
		}
	})
	t.Run("not an STS", func(t *testing.T) {
		// The embedded store's S3 listener answers, but not as an STS.
		code, out, _ := sluiceCmd(t, nil, embeddedDoctorArgs("--server", "http://"+srv.Config.S3Addr)...)
		if code != 1 || !line(out, "FAIL", "sts") {
			t.Errorf("exit %d, want 1 with the probe failing:\n%s", code, out)
		}
	})
	t.Run("store s3", func(t *testing.T) {
		file := writeConfig(t, fmt.Sprintf("store:\n  type: s3\n  s3:\n    endpoint: http://%s\n    bucket: b\n    path_style: true\n", freeAddr()))
		t.Setenv("AWS_ACCESS_KEY_ID", "x")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "y")
		_, out, _ := sluiceCmd(t, nil, "doctor", "--config", file, "--data", t.TempDir(), "--server", srv.APIURL)
		if !line(out, "skip", "sts") || !strings.Contains(out, "sluice aws policy --bucket b") || !strings.Contains(out, "docs/option4-aws.md") || line(out, "FAIL", "sts") {
			t.Errorf("want the STS check skipped with pointers to the AWS setup:\n%s", out)
		}
	})
}
