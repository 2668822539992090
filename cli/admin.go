package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/httpapi"
)

// `sluice admin` and `sluice audit` talk to a running server's admin API
// (/admin/v1/), so that a ban takes effect on the serving instances at
// once and purge reaches whatever store they use, embedded included. They
// authenticate with the admin token: --admin-token, $SLUICE_ADMIN_TOKEN,
// or the token file the server wrote (--admin-token-file, default
// ./sluice-data/admin-token).

func init() {
	register(&command{
		name:    "admin",
		usage:   "ban|unban|usage|purge|limits SUB [--issuer I] [--reason R] [--delete-files] [--server URL]",
		summary: "ban, unban, inspect or erase a user (through the server's admin API)",
		run:     adminCmd,
	})
	register(&command{
		name:    "audit",
		usage:   "[--sub S] [--issuer I] [--since T] [--limit N] [--json] [--server URL]",
		summary: "query the audit log (through the server's admin API)",
		run:     auditCmd,
	})
}

type adminConn struct{ server, token, tokenFile string }

func adminFlags(env *Env, fs *flag.FlagSet) *adminConn {
	c := &adminConn{}
	fs.StringVar(&c.server, "server", envOr(env, "SLUICE_SERVER", defaultServer), "sluice server URL ($SLUICE_SERVER)")
	fs.StringVar(&c.token, "admin-token", "", "admin token (default $SLUICE_ADMIN_TOKEN, then --admin-token-file)")
	fs.StringVar(&c.tokenFile, "admin-token-file", filepath.Join("sluice-data", "admin-token"), "file holding the admin token (the server's admin.token_file)")
	return c
}

func (c *adminConn) adminToken(env *Env) (string, error) {
	if c.token != "" {
		return c.token, nil
	}
	if t := envOr(env, "SLUICE_ADMIN_TOKEN", ""); t != "" {
		return t, nil
	}
	b, err := os.ReadFile(c.tokenFile)
	if err != nil {
		return "", sluice.Errorf(sluice.CodeAdminUnauthorized,
			"no admin token: set SLUICE_ADMIN_TOKEN, pass --admin-token, or --admin-token-file (the server's admin.token_file)")
	}
	return strings.TrimSpace(string(b)), nil
}

// do calls the admin API and decodes the answer into out; an error answer
// becomes the *sluice.Error it carries.
func (c *adminConn) do(ctx context.Context, env *Env, method, path string, q url.Values, body, out any) error {
	tok, err := c.adminToken(env)
	if err != nil {
		return err
	}
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	u := strings.TrimRight(c.server, "/") + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("User-Agent", "sluice-cli")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return sluice.Wrap(sluice.CodeUnavailable, err, "cannot reach %s", c.server)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if resp.StatusCode >= 300 {
		var eb httpapi.ErrorBody
		if json.Unmarshal(raw, &eb) == nil && eb.Error.Code != "" {
			return sluice.Errorf(eb.Error.Code, "%s", eb.Error.Message)
		}
		return fmt.Errorf("%s %s: HTTP %d", method, path, resp.StatusCode)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

func adminCmd(ctx context.Context, env *Env, args []string) error {
	c := commands["admin"]
	fs := flags(env, c)
	ac := adminFlags(env, fs)
	var iss, reason string
	var deleteFiles, asJSON bool
	var bpd, fpd, stored, pending int64
	fs.StringVar(&iss, "issuer", "", "the user's issuer (iss); needed when the server trusts several")
	fs.StringVar(&reason, "reason", "", "ban: why, for the record")
	fs.BoolVar(&deleteFiles, "delete-files", false, "ban: also delete the user's files")
	fs.BoolVar(&asJSON, "json", false, "print the answer as JSON")
	fs.Int64Var(&bpd, "bytes-per-day", -1, "limits: the user's bytes per day (-1: the deployment's)")
	fs.Int64Var(&fpd, "files-per-day", -1, "limits: the user's files per day (-1: the deployment's)")
	fs.Int64Var(&stored, "stored-bytes", -1, "limits: the user's stored bytes (-1: the deployment's)")
	fs.Int64Var(&pending, "pending-grants", -1, "limits: the user's pending grants (-1: the deployment's)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		fs.Usage()
		return errUsage
	}
	action, sub := pos[0], pos[1]
	q := url.Values{}
	if iss != "" {
		q.Set("issuer", iss)
	}
	path := "/admin/v1/users/" + url.PathEscape(sub)
	var res httpapi.AdminResult
	switch action {
	case "ban":
		if err := ac.do(ctx, env, "POST", path+"/ban", q, httpapi.AdminBan{Reason: reason, DeleteFiles: deleteFiles}, &res); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "banned %q at %s: new grants, uploads and STS credentials refused, live credentials revoked", res.Subject, res.Issuer)
		if deleteFiles {
			fmt.Fprintf(env.Stdout, ", %d files deleted", res.Deleted)
		}
		fmt.Fprintln(env.Stdout)
	case "unban":
		if err := ac.do(ctx, env, "POST", path+"/unban", q, nil, &res); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "unbanned %q at %s\n", res.Subject, res.Issuer)
	case "purge":
		if err := ac.do(ctx, env, "POST", path+"/purge", q, nil, &res); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "purged %q at %s: %d objects deleted, records erased (audit rows kept, personal fields blanked)\n", res.Subject, res.Issuer, res.Deleted)
	case "usage", "limits":
		var u sluice.AdminUser
		if action == "limits" {
			opt := func(v int64) *int64 {
				if v < 0 {
					return nil
				}
				return &v
			}
			over := sluice.LimitsOver{BytesPerDay: opt(bpd), FilesPerDay: opt(fpd), StoredBytes: opt(stored), PendingGrants: opt(pending)}
			err = ac.do(ctx, env, "PUT", path+"/limits", q, over, &u)
		} else {
			err = ac.do(ctx, env, "GET", path, q, nil, &u)
		}
		if err != nil {
			return err
		}
		if asJSON {
			enc := json.NewEncoder(env.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(u)
		}
		printUsage(env.Stdout, &u)
	default:
		fmt.Fprintf(env.Stderr, "sluice admin: unknown action %q (ban, unban, usage, purge, limits)\n", action)
		return errUsage
	}
	return nil
}

func printUsage(w io.Writer, u *sluice.AdminUser) {
	lim := func(v int64) string {
		if v == 0 {
			return "unlimited"
		}
		return fmt.Sprint(v)
	}
	tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
	fmt.Fprintf(tw, "user\t%s at %s\n", u.User.Subject, u.User.Issuer)
	if u.User.BannedAt.IsZero() {
		fmt.Fprintf(tw, "banned\tno\n")
	} else {
		fmt.Fprintf(tw, "banned\tsince %s (%s)\n", u.User.BannedAt.Format(time.RFC3339), u.User.BanReason)
	}
	fmt.Fprintf(tw, "bytes today\t%d\tlimit %s\n", u.Usage.BytesToday, lim(u.Limits.BytesPerDay))
	fmt.Fprintf(tw, "files today\t%d\tlimit %s\n", u.Usage.FilesToday, lim(u.Limits.FilesPerDay))
	fmt.Fprintf(tw, "stored bytes\t%d (%d files)\tlimit %s\n", u.Usage.StoredBytes, u.Usage.StoredFiles, lim(u.Limits.StoredBytes))
	fmt.Fprintf(tw, "pending grants\t%d\tlimit %s\n", u.Usage.PendingGrants, lim(u.Limits.PendingGrants))
	tw.Flush()
}

func auditCmd(ctx context.Context, env *Env, args []string) error {
	c := commands["audit"]
	fs := flags(env, c)
	ac := adminFlags(env, fs)
	var sub, iss, since string
	var limit int
	var asJSON bool
	fs.StringVar(&sub, "sub", "", "only this subject")
	fs.StringVar(&iss, "issuer", "", "only this issuer")
	fs.StringVar(&since, "since", "", "only events at or after this RFC 3339 time, or this long ago (e.g. 24h)")
	fs.IntVar(&limit, "limit", 1000, "at most this many events")
	fs.BoolVar(&asJSON, "json", false, "print events as JSON lines")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		fs.Usage()
		return errUsage
	}
	q := url.Values{"limit": {fmt.Sprint(limit)}}
	if sub != "" {
		q.Set("sub", sub)
	}
	if iss != "" {
		q.Set("issuer", iss)
	}
	if since != "" {
		if d, err := time.ParseDuration(since); err == nil {
			since = time.Now().Add(-d).UTC().Format(time.RFC3339)
		} else if _, err := time.Parse(time.RFC3339, since); err != nil {
			return errors.New("--since: want an RFC 3339 time (2026-01-02T15:04:05Z) or a duration (24h)")
		}
		q.Set("since", since)
	}
	var list httpapi.AuditList
	if err := ac.do(ctx, env, "GET", "/admin/v1/audit", q, nil, &list); err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(env.Stdout)
		for _, e := range list.Events {
			if err := enc.Encode(e); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tKIND\tSUB\tOUTCOME\tKEY\tSIZE\tIP\tDETAIL")
	for _, e := range list.Events {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", e.At.Format(time.RFC3339), e.Kind, e.Subject, e.Outcome, e.Key, e.Size, e.IP, e.Detail)
	}
	return tw.Flush()
}
