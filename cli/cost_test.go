package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestCostByHand: 10,000 uploads a day of 2 MiB for 30 days (300,000
// uploads, 585.9375 GiB), priced with compute and transfer set to 0 so
// that only the counts that must not drift (requests, store calls)
// matter; worked out by hand:
//
//	put:   600,000 requests x $1/M = 0.60; 300,000 PUT x $0.005/1000 = 1.50;
//	       600,000 HEAD+GET x $0.0004/1000 = 0.24; storage 585.9375 x 0.023
//	       = 13.4766; total 15.82
//	proxy: each 2 MiB request is 4 x 512 KiB, 1,200,000 billed = 1.20;
//	       1.50 + 13.4766; total 16.18
//	sts:   60,000 sessions (5 uploads each) x 2 requests = 0.12; 1.50 +
//	       13.4766; total 15.10
func TestCostByHand(t *testing.T) {
	prices := filepath.Join(t.TempDir(), "prices.yaml")
	os.WriteFile(prices, []byte("name: test\nvcpu_hour: 0\ntransfer_out_per_gb: 0\n"), 0o600)
	code, out, stderr := runCLI(t, "cost", "--uploads-per-day", "10000", "--avg-size", "2MiB", "--prices", prices)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	sep := regexp.MustCompile(`\s{2,}`)
	rows := map[string][]string{}
	for _, l := range strings.Split(out, "\n") {
		f := sep.Split(strings.TrimSpace(l), -1)
		if len(f) == 10 {
			rows[f[0]] = f
		}
	}
	for name, want := range map[string][]string{
		"option 2: presigned PUT + complete":        {"600000", "0.60", "0.00", "0.00", "1.74", "(0.24)", "13.48", "15.82"},
		"option 1: through sluice (POST /v1/files)": {"300000", "1.20", "0.00", "0.00", "1.50", "(0.00)", "13.48", "16.18"},
		"option 4: STS + signed PUT":                {"120000", "0.12", "0.00", "0.00", "1.50", "(0.00)", "13.48", "15.10"},
	} {
		got, ok := rows[name]
		if !ok {
			t.Fatalf("no row %q in:\n%s", name, out)
		}
		if strings.Join(got[1:9], " ") != strings.Join(want, " ") {
			t.Errorf("%s:\n got %v\nwant %v", name, got[1:9], want)
		}
	}
}

func TestCostRefusesBadInput(t *testing.T) {
	for _, args := range [][]string{
		{"cost", "--avg-size", "2MiB"},
		{"cost", "--uploads-per-day", "10", "--avg-size", "two"},
	} {
		if code, _, _ := runCLI(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	prices := filepath.Join(t.TempDir(), "prices.yaml")
	os.WriteFile(prices, []byte("store_write_per_1000: -1\n"), 0o600)
	if code, _, _ := runCLI(t, "cost", "--uploads-per-day", "10", "--prices", prices); code != 1 {
		t.Errorf("negative price: exit %d, want 1", code)
	}
}
