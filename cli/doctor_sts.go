package cli

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/sluicehq/sluice/app"
	"github.com/sluicehq/sluice/oidc"
	"github.com/sluicehq/sluice/sts"
)

func init() { stsDoctorCheck = checkSTS }

// checkSTS checks option 4's setup (issue 4). With the embedded store
// sluice is the STS: its master key file, its roles against the issuers it
// trusts, and the live endpoint of a running server. With store.type s3 the
// store's own STS (AWS, SeaweedFS) does the job, which doctor cannot check
// without calling AWS IAM, so it says where the setup is described.
func checkSTS(ctx context.Context, d *doctorRun) []finding {
	cfg := d.cfg
	if !cfg.STS.On() {
		return []finding{skip("sts.enabled: false: option 4 (AssumeRoleWithWebIdentity) is off")}
	}
	if cfg.Store.Type != app.StoreEmbedded {
		if cfg.STS.Enabled != nil {
			return []finding{bad("sts.enabled: true with store.type "+string(cfg.Store.Type)+": `sluice serve` refuses to start",
				"remove sts.enabled: sluice's STS works with the embedded store only; for AWS S3 set up IAM's own STS (`sluice aws policy`, docs/option4-aws.md)")}
		}
		return []finding{skip("store.type %s: sluice's STS does not run, the store's own does (AWS STS, SeaweedFS); doctor makes no IAM calls to check its trust: "+
			"`sluice aws policy --bucket %s --firebase-project P` prints the OIDC provider, trust and permission policies to set up, see docs/option4-aws.md",
			cfg.Store.Type, cfg.Store.S3.Bucket)}
	}
	out := []finding{checkSTSKeyFile(cfg)}
	out = append(out, checkSTSRoles(cfg)...)
	return append(out, d.probeSTS(ctx))
}

// checkSTSKeyFile reads the master key file as `sluice serve` does, but
// never creates it.
func checkSTSKeyFile(cfg app.Config) finding {
	path := cfg.STS.KeyFile
	if path == "" {
		path = app.STSKeyFile(cfg.Data)
	}
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return bad("no STS master key file at "+path,
			"`sluice serve` creates it (mode 0600) on first start with this --data; instances that must accept each other's credentials share one file: copy it to sts.key_file on each and `chmod 600` it")
	}
	if err != nil {
		return bad("STS master key file: "+err.Error(), "run doctor as the user `sluice serve` runs as")
	}
	if perm := fi.Mode().Perm(); runtime.GOOS != "windows" && perm&0o077 != 0 {
		return bad(fmt.Sprintf("STS master key file %s has mode %#o: whoever reads it can mint credentials for any user, and `sluice serve` refuses it", path, perm),
			fmt.Sprintf("chmod 600 %s (and make it owned by the user sluice runs as)", path))
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return bad("STS master key file: "+err.Error(), "run doctor as the user `sluice serve` runs as")
	}
	var kf sts.KeyFile
	if err := json.Unmarshal(raw, &kf); err != nil {
		return bad(fmt.Sprintf("STS master key file %s is not valid JSON: %v", path, err), keyFileFix)
	}
	if _, err := sts.NewKeyring(kf); err != nil {
		return bad(fmt.Sprintf("STS master key file %s: %v", path, err), keyFileFix)
	}
	return ok("STS master key file %s: %d key(s), current %q, mode 0600", path, len(kf.Keys), kf.Current)
}

const keyFileFix = "restore the file from another instance (all instances share it), or move it away and let `sluice serve` make a new one (sessions sealed with the old keys then stop working)"

// checkSTSRoles checks that a token can satisfy each role: a role's issuers
// must be issuers sluice verifies, and its audiences ones those issuers'
// tokens can carry, or the role can never be assumed through them.
func checkSTSRoles(cfg app.Config) []finding {
	oc := oidc.Config{Issuers: append([]oidc.IssuerConfig(nil), cfg.Identity.Issuers...)}
	if len(oc.Issuers) > 0 {
		if err := oc.Validate(); err != nil { // expands firebase: shorthands
			return []finding{bad(err.Error(), "fix identity.issuers (see docs/identity.md)")}
		}
	}
	issuers := map[string][]string{} // issuer -> audiences
	for _, is := range oc.Issuers {
		issuers[is.Issuer] = is.Audiences
	}
	devNote := ""
	if cfg.DevIssuerOn() {
		raw, err := os.ReadFile(filepath.Join(app.DevIssuerDir(cfg.Data), "issuer"))
		if iss := strings.TrimSpace(string(raw)); err == nil && iss != "" {
			issuers[iss] = []string{oidc.DevAudience}
		} else {
			devNote = " (nor the development issuer, whose URL is known once `sluice serve` has run with this --data)"
		}
	}
	names := make([]string, 0, len(issuers))
	for iss := range issuers {
		names = append(names, iss)
	}
	slices.Sort(names)

	var out []finding
	for i, r := range cfg.STS.Roles {
		field := fmt.Sprintf("sts.roles[%d]", i)
		allowed := names
		if len(r.Issuers) > 0 {
			allowed = nil
			var unknown []string
			for _, iss := range r.Issuers {
				if _, ok := issuers[iss]; ok {
					allowed = append(allowed, iss)
				} else {
					unknown = append(unknown, iss)
				}
			}
			if len(unknown) > 0 {
				what := "tokens from it can never verify, so it can never assume the role"
				if len(allowed) == 0 {
					what = "no token can ever assume the role"
				}
				out = append(out, bad(fmt.Sprintf("role %s (%s.issuers) names %q, not among the configured identity issuers%s: %s", r.ARN, field, unknown, devNote, what),
					fmt.Sprintf("add the issuer to identity.issuers (byte for byte, trailing slash included), or correct %s.issuers; configured: %q", field, names)))
				continue
			}
		}
		if len(r.Audiences) > 0 {
			var unknown []string
			for _, a := range r.Audiences {
				if !slices.ContainsFunc(allowed, func(iss string) bool { return slices.Contains(issuers[iss], a) }) {
					unknown = append(unknown, a)
				}
			}
			if len(unknown) == len(r.Audiences) {
				out = append(out, bad(fmt.Sprintf("role %s (%s.audiences) wants audience %q, which no issuer it accepts verifies: no token can ever assume the role", r.ARN, field, unknown),
					fmt.Sprintf("add the audience to the issuer's identity.issuers[].audiences, or correct %s.audiences", field)))
				continue
			}
			if len(unknown) > 0 {
				out = append(out, bad(fmt.Sprintf("role %s (%s.audiences) names %q, which no issuer it accepts verifies: tokens for it can never verify", r.ARN, field, unknown),
					fmt.Sprintf("remove them from %s.audiences, or add them to the issuer's identity.issuers[].audiences", field)))
				continue
			}
		}
		out = append(out, ok("role %s can be assumed with tokens from %s", r.ARN, orAny(allowed)))
	}
	return out
}

func orAny(issuers []string) string {
	if len(issuers) == 0 {
		return "no issuer yet"
	}
	return strings.Join(issuers, ", ")
}

// stsServer is the API a running `sluice serve` with this configuration
// answers at: --server, or addr.
func (d *doctorRun) stsServer() string {
	if d.server != "" {
		return strings.TrimRight(d.server, "/")
	}
	host, port, err := net.SplitHostPort(d.cfg.Addr)
	if err != nil {
		return "http://" + d.cfg.Addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// probeSTS sends the running server an AssumeRoleWithWebIdentity with a
// token that is not one: an STS answers the AWS error InvalidIdentityToken,
// having parsed the request and handed the token to the verifier. No
// credential is issued and nothing is recorded.
func (d *doctorRun) probeSTS(ctx context.Context) finding {
	endpoint := d.stsServer() + "/sts"
	role := sts.DefaultRoleARN
	if len(d.cfg.STS.Roles) > 0 {
		role = d.cfg.STS.Roles[0].ARN
	}
	form := url.Values{
		"Action": {"AssumeRoleWithWebIdentity"}, "Version": {sts.APIVersion}, "RoleArn": {role},
		"RoleSessionName": {"sluice-doctor"}, "WebIdentityToken": {"sluice-doctor.not-a.token"},
	}
	req, err := http.NewRequestWithContext(ctx, "POST", endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return bad("STS endpoint "+endpoint+": "+err.Error(), "pass --server with the URL clients use")
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := d.hc.Do(req)
	if err != nil {
		return skip("STS endpoint %s: no server answers (%v): start `sluice serve` with this configuration, or pass --server URL, to probe it", endpoint, errors.Unwrap(err))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var e struct {
		Code string `xml:"Error>Code"`
	}
	xml.Unmarshal(body, &e)
	switch {
	case resp.StatusCode == http.StatusBadRequest && e.Code == "InvalidIdentityToken":
		return ok("STS endpoint %s answers AssumeRoleWithWebIdentity (a bogus token got InvalidIdentityToken)", endpoint)
	case resp.StatusCode == http.StatusNotFound:
		return bad(fmt.Sprintf("%s answered 404: that server does not run the STS", endpoint),
			"its start log says why (\"sts: off\"): the STS needs the embedded store, sts.enabled not false and a ledger that records credentials; or --server points at another server")
	case e.Code != "":
		return bad(fmt.Sprintf("STS endpoint %s answered %d %s to a bogus token, not InvalidIdentityToken", endpoint, resp.StatusCode, e.Code),
			"the server's configuration differs from this one (the role "+role+" must exist there): run doctor with the server's own --config, and see the server's log")
	}
	return bad(fmt.Sprintf("%s answered %d %s, not an STS error", endpoint, resp.StatusCode, resp.Header.Get("Content-Type")),
		"--server (or addr) must be sluice's API, and a proxy in front must pass POST /sts through unchanged")
}
