package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/sluicehq/sluice/cost"
)

func init() {
	register(&command{
		name:    "cost",
		usage:   "--uploads-per-day N --avg-size 2MiB [--prices FILE] [--uploads-per-session 5]",
		summary: "price each upload option per month from the measured per-upload counts (docs/COST.md)",
		run:     runCost,
	})
}

func runCost(_ context.Context, env *Env, args []string) error {
	c := commands["cost"]
	fs := flags(env, c)
	perDay := fs.Int64("uploads-per-day", 0, "uploads per day (required)")
	avg := fs.String("avg-size", "2MiB", "average upload size: bytes, or with KB, MB, GB (10^3) or KiB, MiB, GiB (2^10)")
	pricesFile := fs.String("prices", "", "price table (YAML or JSON, docs/COST.md); default: AWS us-east-1 list prices")
	perSession := fs.Float64("uploads-per-session", 5, "option 4: uploads one STS credential (one call, up to an hour) serves")
	days := fs.Float64("days", 30, "days in the month priced")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	size, err := parseSize(*avg)
	if err != nil || size < 1 {
		fmt.Fprintf(env.Stderr, "sluice cost: --avg-size %q is not a size such as 2MiB\n", *avg)
		return errUsage
	}
	if *perDay < 1 || *perSession < 1 || *days <= 0 {
		fmt.Fprintln(env.Stderr, "sluice cost: --uploads-per-day and --uploads-per-session must be at least 1, --days more than 0")
		return errUsage
	}
	prices := cost.DefaultPrices()
	if *pricesFile != "" {
		if prices, err = cost.LoadPrices(*pricesFile); err != nil {
			return err
		}
	}
	table, err := cost.Measured()
	if err != nil {
		return err
	}
	s := cost.Scenario{UploadsPerDay: *perDay, AvgSize: size, UploadsPerSession: *perSession, Days: *days}
	printCost(env, table, s, prices)
	return nil
}

var optionNames = map[string]string{
	cost.PathProxy: "option 1: through sluice (POST /v1/files)",
	cost.PathTus:   "option 1: resumable (tus)",
	cost.PathPUT:   "option 2: presigned PUT + complete",
	cost.PathPOST:  "option 2: presigned POST + complete",
	cost.PathSTS:   "option 4: STS + signed PUT",
}

func printCost(env *Env, t *cost.Table, s cost.Scenario, p cost.Prices) {
	w := env.Stdout
	est := t.Model(s, p)
	fmt.Fprintf(w, "%d uploads/day of %s for %g days; prices: %s\n", s.UploadsPerDay, humanSize(s.AvgSize), s.Days, p.Name)
	if len(est) > 0 {
		fmt.Fprintf(w, "per-upload counts measured at %s (nearest measured size)\n", humanSize(est[0].Counts.Size))
	}
	fmt.Fprintln(w, "\nUSD per month:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "option\tsluice requests\tfront door\tcompute\ttransfer out\tstore requests\t(of which HEAD/GET)\tstorage\ttotal\tper 1k uploads\t")
	for _, e := range est {
		name := optionNames[e.Path]
		if e.TooLarge {
			name += " *"
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.2f\t%.2f\t%.2f\t%.2f\t(%.2f)\t%.2f\t%.2f\t%.4f\t\n", name, e.SluiceRequests,
			e.FrontDoor, e.Compute, e.TransferOut, e.StoreRequests, e.Safety, e.Storage, e.Total(), e.Total()/e.Uploads*1000)
	}
	tw.Flush()
	for _, e := range est {
		if e.TooLarge {
			fmt.Fprintf(w, "\n* %s is larger than the front door's request limit (%s): option 1 needs a load balancer there, or tus in chunks.\n", humanSize(s.AvgSize), humanSize(p.MaxRequestBytes))
			break
		}
	}
	fmt.Fprintln(w, "\nstorage: the month's uploads kept for a month (it accumulates). (of which HEAD/GET): store reads; for option 2")
	fmt.Fprintln(w, "they are complete's HEAD and sniff GET (policy.verify_after_upload: head keeps only the HEAD).")
	if p.FixedPerMonth > 0 {
		fmt.Fprintf(w, "plus %.2f USD/month fixed (load balancer hours, minimum compute), whatever the option.\n", p.FixedPerMonth)
	}
}

// parseSize reads 2MiB, 100KiB, 10MB, 1.5GiB or a plain byte count.
func parseSize(v string) (int64, error) {
	v = strings.TrimSpace(v)
	units := []struct {
		suffix string
		mult   float64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	mult := 1.0
	for _, u := range units {
		if n, ok := strings.CutSuffix(v, u.suffix); ok {
			v, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("bad size %q", v)
	}
	return int64(f * mult), nil
}

func humanSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}
