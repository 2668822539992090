package cost_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/cost"
)

// The numbers in docs/BENCHMARKS.md and cost/measured.json come from:
//
//	go test -run '^$' -bench 'UploadCost$' -benchtime 20x ./cost/ -args -cost.write
//	go test -run '^$' -bench 'UploadCostLarge$' -benchtime 3x ./cost/ -args -cost.write
//
// Each sub-benchmark makes b.N uploads of one size by one path (after one
// warm-up upload) against one `sluice serve` process and reports the
// counts per upload. -cost.write merges the last run's rows into
// measured.json (which `sluice cost` ships) and prints the markdown table.
var write = flag.Bool("cost.write", false, "write the measured counts to measured.json and print the table")

func BenchmarkUploadCost(b *testing.B) { benchSizes(b, 100<<10, 2<<20) }

func BenchmarkUploadCostLarge(b *testing.B) { benchSizes(b, 64<<20) }

func benchSizes(b *testing.B, sizes ...int64) {
	s := startServer(b)
	rows := map[string]cost.Counts{}
	user := 0
	for _, size := range sizes {
		for _, path := range cost.Paths {
			b.Run(fmt.Sprintf("size=%s/path=%s", sizeName(size), path), func(b *testing.B) {
				user++
				c := measure(b, s, path, size, b.N, fmt.Sprintf("cost-%d", user))
				rows[path+"/"+sizeName(size)] = c
				b.ReportMetric(c.SluiceRequests, "sluice-req/op")
				b.ReportMetric(c.UploadBytes, "bytes-through/op")
				b.ReportMetric(storeTotal(c), "store-req/op")
				b.ReportMetric(c.CPUSeconds*1e3, "server-cpu-ms/op")
				b.ReportMetric(c.WallSeconds*1e3, "wall-ms/op")
			})
		}
	}
	if !*write {
		return
	}
	file := filepath.Join(pkgDir, "measured.json")
	t, err := readTable(file)
	if err != nil {
		b.Fatal(err)
	}
	var keep []cost.Counts
	for _, r := range t.Rows {
		if _, replaced := rows[r.Path+"/"+sizeName(r.Size)]; !replaced {
			keep = append(keep, r)
		}
	}
	for _, r := range rows {
		keep = append(keep, r)
	}
	order := map[string]int{}
	for i, p := range cost.Paths {
		order[p] = i
	}
	sort.Slice(keep, func(i, j int) bool {
		if keep[i].Size != keep[j].Size {
			return keep[i].Size < keep[j].Size
		}
		return order[keep[i].Path] < order[keep[j].Path]
	})
	t.Rows = keep
	t.Command = "go test -run '^$' -bench 'UploadCost$' -benchtime 20x ./cost/ -args -cost.write; go test -run '^$' -bench 'UploadCostLarge$' -benchtime 3x ./cost/ -args -cost.write"
	t.Machine = machine()
	out, _ := json.MarshalIndent(t, "", "  ")
	if err := os.WriteFile(file, append(out, '\n'), 0o644); err != nil {
		b.Fatal(err)
	}
	fmt.Println(markdown(t))
}

func readTable(file string) (*cost.Table, error) {
	var t cost.Table
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return &t, json.Unmarshal(b, &t)
}

func storeTotal(c cost.Counts) float64 {
	n := 0.0
	for _, v := range c.Store {
		n += v
	}
	return n
}

func sizeName(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprint(n)
}

func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	return cpu
}

// markdown renders the table as docs/BENCHMARKS.md shows it.
func markdown(t *cost.Table) string {
	var sb strings.Builder
	sb.WriteString("| size | path | uploads | sluice requests | session requests | bytes through sluice | store calls | server CPU ms | wall ms |\n")
	sb.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, r := range t.Rows {
		ops := make([]string, 0, len(r.Store))
		for op, v := range r.Store {
			ops = append(ops, fmt.Sprintf("%s %s", op, trim(v)))
		}
		sort.Strings(ops)
		sess := ""
		if r.SessionRequests > 0 {
			sess = fmt.Sprintf("%s (%.1f ms CPU)", trim(r.SessionRequests), r.SessionCPUSeconds*1e3)
		}
		fmt.Fprintf(&sb, "| %s | %s | %d | %s | %s | %s | %s | %.1f | %.1f |\n", sizeName(r.Size), r.Path, r.Uploads,
			trim(r.SluiceRequests), sess, trim(r.UploadBytes), strings.Join(ops, ", "), r.CPUSeconds*1e3, r.WallSeconds*1e3)
	}
	return sb.String()
}

func trim(v float64) string {
	s := fmt.Sprintf("%.2f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}
