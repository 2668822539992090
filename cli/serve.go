package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluicehq/sluice/app"
	"github.com/sluicehq/sluice/oidc"
)

func init() {
	register(&command{
		name:    "serve",
		usage:   "[flags]",
		summary: "run the sluice server (embedded store, SQLite ledger, development issuer by default)",
		run:     serve,
	})
	register(&command{
		name:    "token",
		usage:   "--dev --data DIR --sub NAME [--email E] [--ttl 1h]",
		summary: "print a development ID token signed by the local development issuer",
		run:     token,
	})
}

func serve(ctx context.Context, env *Env, args []string) error {
	c := commands["serve"]
	fs := flags(env, c)
	cfg := app.Default()
	app.Flags(fs, &cfg)
	if err := app.Load(fs, &cfg, args, env.Getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("configuration: %w", err)
	}
	log := app.NewLogger(cfg, env.Stderr)
	a, err := app.Start(ctx, cfg, log)
	if err != nil {
		return err
	}
	printBanner(env, a)
	select {
	case <-ctx.Done():
	case err := <-waitErr(a):
		if err != nil {
			return err
		}
	}
	fmt.Fprintln(env.Stderr, "sluice: shutting down, letting in-flight requests finish")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return a.Close(sctx)
}

func waitErr(a *app.App) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- a.Wait() }()
	return ch
}

func printBanner(env *Env, a *app.App) {
	w := env.Stdout
	fmt.Fprintf(w, "sluice is running\n")
	fmt.Fprintf(w, "  API:        %s\n", a.APIURL)
	if a.Config.WebOn() {
		fmt.Fprintf(w, "  web page:   %s/ (upload from a browser)\n", a.APIURL)
	}
	if s3 := a.Config.Store.S3; a.Config.Store.Type == app.StoreS3 {
		fmt.Fprintf(w, "  S3 store:   %s (bucket %q, external)\n", firstNonEmpty(s3.Endpoint, "AWS S3"), s3.Bucket)
	} else {
		fmt.Fprintf(w, "  S3 store:   %s (bucket %q)\n", a.S3URL, a.Config.Bucket)
	}
	fmt.Fprintf(w, "  ledger:     %s\n", a.Config.Ledger.Type)
	if a.STS != nil {
		fmt.Fprintf(w, "  STS:        %s/sts (AssumeRoleWithWebIdentity)\n", a.APIURL)
		for _, r := range a.STS.Roles() {
			fmt.Fprintf(w, "  role:       %s\n", r)
		}
	}
	fmt.Fprintf(w, "  data:       %s\n", a.Config.Data)
	if a.Dev != nil {
		fmt.Fprintf(w, "  dev issuer: %s/dev (development tokens only)\n", a.APIURL)
		fmt.Fprintf(w, "\nGet a token and upload:\n")
		fmt.Fprintf(w, "  export SLUICE_TOKEN=$(sluice token --dev --data %s --sub alice)\n", shellQuote(a.Config.Data))
		fmt.Fprintf(w, "  sluice upload photo.jpg --server %s\n", a.APIURL)
	}
}

func shellQuote(s string) string {
	if !strings.ContainsAny(s, " '\"$\\`") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func token(ctx context.Context, env *Env, args []string) error {
	c := commands["token"]
	fs := flags(env, c)
	dev := fs.Bool("dev", false, "mint with the local development issuer (the only kind sluice mints)")
	data := fs.String("data", envOr(env, "SLUICE_DATA", app.Default().Data), "data directory of the sluice serve whose issuer signs")
	sub := fs.String("sub", "", "subject (user id) of the token")
	email := fs.String("email", "", "email claim")
	ttl := fs.Duration("ttl", time.Hour, "token lifetime")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if !*dev {
		return errors.New("only development tokens can be minted: pass --dev (real tokens come from your identity provider)")
	}
	if *sub == "" {
		return errors.New("--sub is required")
	}
	if *ttl <= 0 || *ttl > 24*time.Hour {
		return errors.New("--ttl must be between 1s and 24h")
	}
	dir := app.DevIssuerDir(*data)
	raw, err := os.ReadFile(filepath.Join(dir, "issuer"))
	if err != nil {
		return fmt.Errorf("no development issuer in %s: start `sluice serve --data %s` once first", *data, *data)
	}
	d, err := oidc.OpenDevIssuer(dir, strings.TrimSpace(string(raw)))
	if err != nil {
		return err
	}
	tok, err := d.Mint(*sub, *email, *ttl, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, tok)
	return nil
}
