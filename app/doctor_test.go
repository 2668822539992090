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
)

// line finds doctor's report line for a check, e.g. ("ok", "store").
func line(out, verdict, check string) bool {
	return regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(verdict) + `\s+` + check + `\s`).MatchString(out)
}

func embeddedDoctorArgs(extra ...string) []string {
	return append([]string{"doctor", "--data", srv.Config.Data, "--s3-addr", srv.Config.S3Addr, "--cors-origins", "http://app.example"}, extra...)
}

// TestDoctorEmbedded runs doctor against the running embedded store, as a
// developer would next to `sluice serve`.
func TestDoctorEmbedded(t *testing.T) {
	code, out, stderr := sluiceCmd(t, nil, embeddedDoctorArgs()...)
	if code != 0 {
		t.Fatalf("doctor: exit %d\n%s%s", code, out, stderr)
	}
	for _, want := range [][2]string{{"ok", "store"}, {"ok", "upload"}, {"ok", "cors"}, {"ok", "clock"}, {"ok", "identity"}, {"skip", "ledger"}, {"skip", "sts"}} {
		if !line(out, want[0], want[1]) {
			t.Errorf("no %q line for %s in:\n%s", want[0], want[1], out)
		}
	}
	for _, want := range []string{"replayed PUT is refused", "POST policy upload accepted", "exposes ETag", srv.APIURL + "/dev: signing keys fetched"} {
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
	for _, want := range [][2]string{{"ok", "store"}, {"ok", "upload"}, {"ok", "cors"}, {"ok", "clock"}, {"ok", "identity"}} {
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
