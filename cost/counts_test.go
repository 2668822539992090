package cost_test

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/cost"
)

// TestCountsMatchShippedTable runs the harness at 100 KiB, a few uploads
// per path, and fails when a path's counts drift from the table that
// `sluice cost` ships and docs/COST.md prices: requests to sluice, the
// bytes through it, and the storage calls by kind must be exactly those.
// CPU and wall time are not compared (they are the machine's).
func TestCountsMatchShippedTable(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a sluice server process")
	}
	shipped, err := cost.Measured()
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t)
	const size, n = 100 << 10, 3
	for _, path := range cost.Paths {
		t.Run(path, func(t *testing.T) {
			got := measure(t, s, path, size, n, "drift-"+path)
			want, ok := shipped.Row(path, size)
			if !ok || want.Size != size {
				t.Fatalf("measured.json has no %s row at %d bytes: rerun the benchmark (see bench_test.go)", path, size)
			}
			if d := diffCounts(want, got); d != "" {
				t.Errorf("%s at 100 KiB drifted from cost/measured.json (what docs/COST.md prices); rerun the benchmark and update COST.md if this is intended:\n%s", path, d)
			}
		})
	}
	// What docs/COST.md states in words, checked on their own so that a
	// regenerated table cannot quietly make them false.
	t.Run("claims", func(t *testing.T) {
		sts := measure(t, s, cost.PathSTS, size, n, "claim-sts")
		if sts.SluiceRequests != 0 {
			t.Errorf("option 4 costs %v requests to sluice per upload, want 0 (only the session's STS call)", sts.SluiceRequests)
		}
		if sts.SessionRequests > 2 {
			t.Errorf("option 4's session costs %v requests to sluice, want at most 2 (discovery, STS)", sts.SessionRequests)
		}
		if want := map[string]float64{"PutObject": 1}; !sameOps(sts.Store, want) {
			t.Errorf("option 4 store calls %v, want %v", sts.Store, want)
		}
		for _, path := range []string{cost.PathPUT, cost.PathPOST} {
			c := measure(t, s, path, size, n, "claim-"+path)
			if c.Store["HeadObject"] != 1 || c.Store["GetObjectRange"] != 1 || c.Store["GetObject"] != 0 {
				t.Errorf("%s: complete read back %v, want one HeadObject and one ranged GET, no whole-object GET", path, c.Store)
			}
			if c.UploadBytes != 0 || c.SluiceRequests != 2 {
				t.Errorf("%s: %v requests and %v upload bytes through sluice, want 2 (grant, complete) and 0", path, c.SluiceRequests, c.UploadBytes)
			}
		}
		proxy := measure(t, s, cost.PathProxy, size, n, "claim-proxy")
		if proxy.SluiceRequests != 1 || proxy.UploadBytes != size || !sameOps(proxy.Store, map[string]float64{"PutObject": 1}) {
			t.Errorf("option 1: %v requests, %v bytes, store %v; want 1 request, %d bytes, one PutObject", proxy.SluiceRequests, proxy.UploadBytes, proxy.Store, size)
		}
	})
}

// TestVerifyHeadSkipsReads: with policy.verify_after_upload: head,
// complete makes one HEAD and no read of the object.
func TestVerifyHeadSkipsReads(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a sluice server process")
	}
	s := startServer(t, "--verify-after-upload", "head")
	for _, path := range []string{cost.PathPUT, cost.PathPOST} {
		c := measure(t, s, path, 100<<10, 2, "head-"+path)
		put := "PutObject"
		if path == cost.PathPOST {
			put = "PostObject"
		}
		if want := map[string]float64{put: 1, "HeadObject": 1}; !sameOps(c.Store, want) {
			t.Errorf("%s with verify head: store calls %v, want %v", path, c.Store, want)
		}
	}
	// tus: the finished multipart object has no whole-object SHA-256, so
	// full verification reads it all back to hash it; head does not.
	shipped, err := cost.Measured()
	if err != nil {
		t.Fatal(err)
	}
	full, _ := shipped.Row(cost.PathTus, 100<<10)
	c := measure(t, s, cost.PathTus, 100<<10, 2, "head-tus")
	if c.Store["GetObjectRange"] != 0 || c.Store["GetObject"] != full.Store["GetObject"]-1 || c.Store["HeadObject"] != full.Store["HeadObject"] {
		t.Errorf("tus with verify head: store calls %v; want those of full (%v) less the ranged GET and one whole-object GET", c.Store, full.Store)
	}
}

func sameOps(a, b map[string]float64) bool {
	for k, v := range a {
		if math.Abs(v-b[k]) > 1e-9 {
			return false
		}
	}
	for k, v := range b {
		if math.Abs(v-a[k]) > 1e-9 {
			return false
		}
	}
	return true
}

// diffCounts lists the differences in what must not drift.
func diffCounts(want, got cost.Counts) string {
	var d []string
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-6*math.Max(1, math.Abs(a)) }
	if !near(want.SluiceRequests, got.SluiceRequests) {
		d = append(d, fmt.Sprintf("requests to sluice per upload: shipped %v, measured %v", want.SluiceRequests, got.SluiceRequests))
	}
	if !near(want.SessionRequests, got.SessionRequests) {
		d = append(d, fmt.Sprintf("requests to sluice per session: shipped %v, measured %v", want.SessionRequests, got.SessionRequests))
	}
	if !near(want.UploadBytes, got.UploadBytes) {
		d = append(d, fmt.Sprintf("upload bytes through sluice: shipped %v, measured %v", want.UploadBytes, got.UploadBytes))
	}
	ops := map[string]bool{}
	for op := range want.Store {
		ops[op] = true
	}
	for op := range got.Store {
		ops[op] = true
	}
	var names []string
	for op := range ops {
		names = append(names, op)
	}
	sort.Strings(names)
	for _, op := range names {
		if !near(want.Store[op], got.Store[op]) {
			d = append(d, fmt.Sprintf("store %s per upload: shipped %v, measured %v", op, want.Store[op], got.Store[op]))
		}
	}
	return strings.Join(d, "\n")
}
