package cli

import (
	"context"
	"fmt"

	"github.com/sluicehq/sluice/app"
)

func init() {
	register(&command{
		name:    "reconcile",
		usage:   "[--config FILE] [serve flags]",
		summary: "settle orphans once: expired grants, stale multipart uploads, objects written with STS credentials",
		run:     reconcileOnce,
	})
}

// reconcileOnce runs one reconciliation pass over the configured store and
// ledger, as `sluice serve` does every reconcile.interval, and prints what
// it did. It exits non-zero when a step failed, so a cron job notices.
func reconcileOnce(ctx context.Context, env *Env, args []string) error {
	cfg, err := loadConfig(env, commands["reconcile"], args)
	if err != nil {
		return err
	}
	rep, err := app.ReconcileOnce(ctx, cfg, app.NewLogger(cfg, env.Stderr))
	if err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, rep.String())
	for _, s := range rep.Skipped {
		fmt.Fprintln(env.Stdout, "skipped:", s)
	}
	for _, e := range rep.Errors {
		fmt.Fprintln(env.Stdout, "error:", e)
	}
	if len(rep.Errors) > 0 {
		return fmt.Errorf("%d step(s) failed; the next run retries them", len(rep.Errors))
	}
	return nil
}
