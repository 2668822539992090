package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/app"
	"github.com/sluicehq/sluice/sts"
)

func init() {
	register(&command{
		name:    "revoke",
		usage:   "(--access-key-id ASIA… | --sub SUBJECT --issuer ISS) [--config FILE] [serve flags]",
		summary: "void STS credentials: one by its access key id, or all of a user's",
		run:     revoke,
	})
}

// revoke writes a revocation to the configured ledger. Running servers
// that share it refuse the credentials within their revocation cache time
// (sts.revocation_cache, 2s by default): no restart, no call to them.
func revoke(ctx context.Context, env *Env, args []string) error {
	var akid, sub, iss string
	cfg, err := loadConfig(env, commands["revoke"], args, func(fs *flag.FlagSet) {
		fs.StringVar(&akid, "access-key-id", "", "the temporary access key id (ASIA…) to void")
		fs.StringVar(&sub, "sub", "", "void every credential of this subject…")
		fs.StringVar(&iss, "issuer", "", "…at this issuer (the iss of the user's tokens)")
	})
	if err != nil {
		return err
	}
	if (akid == "") == (sub == "") {
		return errors.New("give either --access-key-id, or --sub with --issuer")
	}
	if sub != "" && iss == "" {
		return errors.New("--issuer is required with --sub: the iss of the user's ID tokens, e.g. https://securetoken.google.com/<project>")
	}
	l, err := app.OpenLedger(ctx, cfg)
	if err != nil {
		return err
	}
	defer l.Close()
	cl, ok := l.(sluice.CredentialLedger)
	if !ok {
		return errors.New("the configured ledger does not record STS credentials")
	}
	now := time.Now()
	if akid != "" {
		c, err := cl.Credential(ctx, akid)
		if err != nil {
			return err
		}
		if err := sts.RevokeCredential(ctx, cl, akid, now); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "revoked %s (subject %q, session %q, would have expired %s)\n",
			akid, c.Subject, c.SessionName, c.ExpiresAt.Format(time.RFC3339))
		return nil
	}
	if err := sts.RevokeUser(ctx, cl, sluice.Owner{Issuer: iss, Subject: sub}, now); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "revoked every credential of %q at %s issued until now; their ID tokens issued until now are refused too\n", sub, iss)
	return nil
}
