package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/sluicehq/sluice/app"
	"github.com/sluicehq/sluice/postgres"
)

func init() {
	register(&command{
		name:    "migrate",
		usage:   "[--config FILE] [serve flags]",
		summary: "bring the configured ledger's schema up to date (serve also does on start)",
		run:     migrate,
	})
}

// migrate applies the ledger migrations and exits: a deployment runs it
// once before rolling out a new version, rather than letting the first
// instance to start do it.
func migrate(ctx context.Context, env *Env, args []string) error {
	cfg, err := loadConfig(env, commands["migrate"], args)
	if err != nil {
		return err
	}
	if cfg.Ledger.Type == app.LedgerPostgres {
		from, to, err := postgres.Migrate(ctx, cfg.Ledger.DSN)
		if err != nil {
			return err
		}
		if from == to {
			fmt.Fprintf(env.Stdout, "ledger (postgres): schema already at version %d\n", to)
		} else {
			fmt.Fprintf(env.Stdout, "ledger (postgres): schema migrated from version %d to %d\n", from, to)
		}
		return nil
	}
	l, err := app.OpenLedger(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "ledger (sqlite, %s): schema up to date\n", cfg.Data)
	return l.Close()
}

// loadConfig reads the server configuration the way serve does (file,
// SLUICE_* environment, flags), for the commands that act on it.
func loadConfig(env *Env, c *command, args []string, extra ...func(*flag.FlagSet)) (app.Config, error) {
	fs := flags(env, c)
	cfg := app.Default()
	app.Flags(fs, &cfg)
	for _, f := range extra {
		f(fs)
	}
	if err := app.Load(fs, &cfg, args, env.Getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		return cfg, fmt.Errorf("configuration: %w", err)
	}
	return cfg, nil
}
