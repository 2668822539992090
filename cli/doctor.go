package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/app"
	"github.com/sluicehq/sluice/embedded"
	"github.com/sluicehq/sluice/oidc"
	"github.com/sluicehq/sluice/postgres"
	"github.com/sluicehq/sluice/s3store"
)

func init() {
	register(&command{
		name:    "doctor",
		usage:   "[--config FILE] [--origin URL] [--server URL] [serve flags]",
		summary: "check a configuration against the real store, ledger and identity providers",
		run:     doctor,
	})
}

// verdict is the outcome of one finding.
type verdict int

const (
	pass verdict = iota
	skipped
	failed
)

func (v verdict) String() string { return [...]string{"ok", "skip", "FAIL"}[v] }

// finding is one line of doctor's report; a failure says how to fix it.
type finding struct {
	verdict verdict
	detail  string
	fix     string
}

func ok(format string, args ...any) finding {
	return finding{verdict: pass, detail: fmt.Sprintf(format, args...)}
}
func skip(format string, args ...any) finding {
	return finding{verdict: skipped, detail: fmt.Sprintf(format, args...)}
}
func bad(detail, fix string) finding { return finding{verdict: failed, detail: detail, fix: fix} }

// doctorCheck is one thing doctor verifies.
type doctorCheck struct {
	name string
	run  func(ctx context.Context, d *doctorRun) []finding
}

// stsDoctorCheck is the STS trust check (issue 4), set by doctor_sts.go.
// While nil it is printed as skipped.
var stsDoctorCheck func(ctx context.Context, d *doctorRun) []finding

var doctorChecks = []doctorCheck{
	{"store", checkStore},
	{"upload", checkUpload},
	{"cors", checkCORS},
	{"clock", checkClock},
	{"identity", checkIdentity},
	{"ledger", checkLedger},
	{"sts", func(ctx context.Context, d *doctorRun) []finding {
		if stsDoctorCheck == nil {
			return []finding{skip("STS trust is not checked by this build (TODO, issue 4)")}
		}
		return stsDoctorCheck(ctx, d)
	}},
}

// doctorRun is what the checks share.
type doctorRun struct {
	cfg     app.Config
	origins []string
	s3cfg   s3store.Config
	store   sluice.Store
	client  *s3.Client
	hc      *http.Client
	// server is the running sluice API to probe (--server); empty: addr.
	server string
	// storeOK is false once the bucket proved unreachable: the checks that
	// need it then skip rather than repeat the failure.
	storeOK bool
	// putHeaders are the store's answer to the probe upload, sent with an
	// Origin header: what a browser would get.
	putHeaders http.Header
}

func doctor(ctx context.Context, env *Env, args []string) error {
	var origins []string
	var server string
	cfg, err := loadConfig(env, commands["doctor"], args, func(fs *flag.FlagSet) {
		fs.Func("origin", "browser origin to check CORS for (repeatable; default: cors_origins)", func(v string) error {
			origins = append(origins, v)
			return nil
		})
		fs.StringVar(&server, "server", "", "URL of the running sluice API to probe (default: http://<addr>)")
	})
	if err != nil {
		return err
	}
	if len(origins) == 0 {
		origins = cfg.CORSOrigins
	}
	d := &doctorRun{cfg: cfg, origins: origins, hc: &http.Client{Timeout: 15 * time.Second}, server: server}
	fmt.Fprintf(env.Stdout, "sluice doctor: store %s, ledger %s, %d issuer(s)\n", cfg.Store.Type, cfg.Ledger.Type, issuerCount(cfg))

	failures := 0
	for _, c := range doctorChecks {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		fs := c.run(cctx, d)
		cancel()
		for _, f := range fs {
			fmt.Fprintf(env.Stdout, "  %-4s  %-8s  %s\n", f.verdict, c.name, f.detail)
			if f.verdict == failed {
				failures++
				fmt.Fprintf(env.Stdout, "  %-4s  %-8s  fix: %s\n", "", "", strings.ReplaceAll(f.fix, "\n", "\n                  "))
			}
		}
	}
	if failures > 0 {
		return fmt.Errorf("%d check(s) failed", failures)
	}
	fmt.Fprintln(env.Stdout, "all checks passed")
	return nil
}

func issuerCount(cfg app.Config) int {
	n := len(cfg.Identity.Issuers)
	if cfg.DevIssuerOn() {
		n++
	}
	return n
}

// storeConfig is how to reach the configured store from here: store.s3,
// or the embedded store a `sluice serve` with this data directory runs.
func storeConfig(cfg app.Config) (s3store.Config, error) {
	if cfg.Store.Type == app.StoreS3 {
		return cfg.Store.S3, nil
	}
	path := filepath.Join(cfg.Data, "store", "credentials.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		return s3store.Config{}, fmt.Errorf("no embedded store keys at %s (%v)", path, err)
	}
	var keys embedded.Credentials
	if err := json.Unmarshal(raw, &keys); err != nil {
		return s3store.Config{}, fmt.Errorf("%s: %v", path, err)
	}
	host, port, _ := net.SplitHostPort(cfg.S3Addr)
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return s3store.Config{
		Endpoint: "http://" + net.JoinHostPort(host, port), PublicURL: cfg.PublicS3URL, Region: cfg.Region,
		Bucket: cfg.Bucket, PathStyle: true, PostPolicy: true,
		Credentials: credentials.NewStaticCredentialsProvider(keys.AccessKeyID, keys.SecretAccessKey, ""),
	}, nil
}

func checkStore(ctx context.Context, d *doctorRun) []finding {
	var err error
	d.s3cfg, err = storeConfig(d.cfg)
	if err != nil {
		return []finding{bad(err.Error(), "start `sluice serve` with this --data once, so that the embedded store makes its keys")}
	}
	if d.s3cfg.Region == "" {
		d.s3cfg.Region = "us-east-1"
	}
	d.store, err = s3store.New(ctx, d.s3cfg)
	if err != nil {
		return []finding{bad(err.Error(), "check store.s3 (endpoint, public_url, bucket)")}
	}
	d.client = d.store.(interface{ Client() *s3.Client }).Client()
	where := fmt.Sprintf("bucket %q at %s", d.s3cfg.Bucket, endpointOf(d.s3cfg))
	if err := d.store.Ping(ctx); err != nil {
		return []finding{bad(where+": "+cause(err), storeFix(d, err))}
	}
	d.storeOK = true
	return []finding{ok("%s is reachable with sluice's credentials", where)}
}

func endpointOf(c s3store.Config) string {
	if c.Endpoint != "" {
		return c.Endpoint
	}
	return "https://s3." + c.Region + ".amazonaws.com"
}

// cause is the underlying error's text: the provider's own words are what
// an operator searches for.
func cause(err error) string {
	var se *sluice.Error
	if errors.As(err, &se) && se.Err != nil {
		return se.Err.Error()
	}
	return err.Error()
}

func storeFix(d *doctorRun, err error) string {
	b := d.s3cfg.Bucket
	var api smithy.APIError
	var re interface{ HTTPStatusCode() int }
	status := 0
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	switch {
	case strings.Contains(err.Error(), "failed to retrieve credentials") || strings.Contains(err.Error(), "no EC2 IMDS"):
		return "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or give the instance an IAM role"
	case d.cfg.Store.Type == app.StoreEmbedded && status == http.StatusNotFound:
		return fmt.Sprintf("the embedded store creates its bucket on start: is `sluice serve` running with --bucket %s and this --data?", b)
	case status == http.StatusNotFound || (errors.As(err, &api) && api.ErrorCode() == "NoSuchBucket"):
		return fmt.Sprintf("create the bucket %q (e.g. `aws s3 mb s3://%s --region %s`), or fix store.s3.bucket", b, b, d.s3cfg.Region)
	case status == http.StatusForbidden:
		return fmt.Sprintf("the credentials are refused or lack permissions: allow s3:ListBucket on arn:aws:s3:::%s and s3:GetObject, s3:PutObject, s3:DeleteObject on arn:aws:s3:::%s/users/*; for SeaweedFS, give the identity Read, Write and List in -s3.config", b, b)
	case status == http.StatusMovedPermanently || status == http.StatusBadRequest:
		return "the bucket is in another region, or the store wants the other addressing style: set store.s3.region, and store.s3.path_style: true for SeaweedFS and MinIO"
	case sluice.IsCode(err, sluice.CodeUnavailable):
		return fmt.Sprintf("nothing answers at %s: check store.s3.endpoint, DNS and firewalls (for the embedded store: is `sluice serve` running?)", endpointOf(d.s3cfg))
	}
	return "check store.s3 and the store's logs"
}

// doctorKey is where the probe objects go: under users/, which sluice's
// store permissions must cover anyway, in a subject no user can have by
// accident (it starts with an underscore and is random).
func doctorKey(ext string) string {
	b := make([]byte, 8)
	rand.Read(b)
	return "users/_sluice-doctor/" + hex.EncodeToString(b) + ext
}

// checkUpload runs what a client does with a grant, against the real
// store and through the public URL: presigned PUT, replay (write once),
// checksum kept, and a POST form when the store is configured for them.
func checkUpload(ctx context.Context, d *doctorRun) []finding {
	if !d.storeOK {
		return []finding{skip("needs the store check to pass")}
	}
	body := make([]byte, 256)
	rand.Read(body)
	copy(body, "\x89PNG\r\n\x1a\n")
	key := doctorKey(".png")
	defer d.store.Delete(context.Background(), key)
	now := time.Now().UTC().Truncate(time.Second)
	p := sluice.PutParams{Key: key, ContentType: "image/png", Size: int64(len(body)), MaxSize: int64(len(body)),
		SHA256: sha256hex(body), Now: now, Expires: now.Add(2 * time.Minute)}
	ps, err := d.store.PresignPut(ctx, p)
	if err != nil {
		return []finding{bad("signing a PUT: "+cause(err), "check the store credentials")}
	}
	headers := map[string]string{}
	for k, v := range ps.Headers {
		headers[k] = v
	}
	if len(d.origins) > 0 {
		headers["Origin"] = probeOrigin(d.origins[0])
	}
	code, h, err := d.send("PUT", ps.URL, headers, body)
	if err != nil {
		return []finding{bad("cannot reach the public store URL "+hostOf(ps.URL)+": "+err.Error(),
			"presigned URLs point at store.s3.public_url (or the endpoint): clients must reach it; set public_url to the address they use")}
	}
	if code != http.StatusOK {
		return []finding{bad(fmt.Sprintf("the store answered %d to sluice's presigned PUT", code),
			"the signature did not match: check store.s3.region, path_style, and that a proxy in front of public_url passes the Host header and query unchanged; see also the clock check")}
	}
	d.putHeaders = h
	out := []finding{ok("presigned PUT through %s stored the object", hostOf(ps.URL))}
	if code, _, _ := d.send("PUT", ps.URL, ps.Headers, body); code == http.StatusPreconditionFailed {
		out = append(out, ok("a replayed PUT is refused (If-None-Match: write once)"))
	} else {
		out = append(out, bad(fmt.Sprintf("a replayed PUT answered %d, not 412", code),
			"the store ignores If-None-Match: *, so a leaked URL can overwrite an upload until it expires; use a store with conditional writes (AWS S3, SeaweedFS, versitygw) or keep url_ttl short"))
	}
	if info, err := d.store.Head(ctx, key); err == nil && info.SHA256 == p.SHA256 {
		out = append(out, ok("the store keeps the SHA-256 checksum"))
	} else if err == nil {
		out = append(out, ok("the store keeps no SHA-256 checksum: complete hashes each object instead (slower)"))
	}
	pp, canPost := d.store.(sluice.PostPresigner)
	if !canPost {
		return append(out, skip("POST policy uploads off (store.s3.post_policy: false): method POST answers method_not_supported"))
	}
	pkey := doctorKey(".png")
	defer d.store.Delete(context.Background(), pkey)
	p.Key = pkey
	form, err := pp.PresignPost(ctx, p)
	if err != nil {
		return append(out, bad("signing a POST policy: "+cause(err), "check the store credentials"))
	}
	if code, err := d.postForm(form, body); err != nil || code/100 != 2 {
		return append(out, bad(fmt.Sprintf("the store answered %d %v to a POST policy upload", code, errText(err)),
			"this store does not take POST policy uploads (Cloudflare R2, SeaweedFS with temporary keys): set store.s3.post_policy: false"))
	}
	return append(out, ok("POST policy upload accepted"))
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return "(" + err.Error() + ")"
}

// probeOrigin is the origin a preflight names: "*" allows any, so a
// made-up one stands for all of them.
func probeOrigin(o string) string {
	if o == "*" {
		return "https://sluice-doctor.invalid"
	}
	return o
}

func hostOf(raw string) string {
	if i := strings.Index(raw, "://"); i >= 0 {
		rest := raw[i+3:]
		if j := strings.IndexAny(rest, "/?"); j >= 0 {
			rest = rest[:j]
		}
		return raw[:i+3] + rest
	}
	return raw
}

func (d *doctorRun) send(method, url string, headers map[string]string, body []byte) (int, http.Header, error) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := d.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header, nil
}

func (d *doctorRun) postForm(form *sluice.Presigned, body []byte) (int, error) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range form.Fields {
		w.WriteField(k, v)
	}
	fw, _ := w.CreateFormFile("file", "doctor.png")
	fw.Write(body)
	w.Close()
	code, _, err := d.send("POST", form.URL, map[string]string{"Content-Type": w.FormDataContentType()}, buf.Bytes())
	return code, err
}

// corsHeaders are the request headers a browser's presigned PUT carries.
const corsHeaders = "content-type,if-none-match,x-amz-checksum-sha256"

// checkCORS asks the store what a browser on each app origin would: the
// preflight of a presigned PUT, then whether the PUT's answer lets the
// page read ETag. The bucket's own rules, when it has any, go into the fix.
func checkCORS(ctx context.Context, d *doctorRun) []finding {
	if len(d.origins) == 0 {
		return []finding{skip("no cors_origins configured (pass --origin URL to check one): browsers cannot upload directly")}
	}
	if !d.storeOK {
		return []finding{skip("needs the store check to pass")}
	}
	rules := "the bucket has no CORS rules"
	if out, err := d.client.GetBucketCors(ctx, &s3.GetBucketCorsInput{Bucket: aws.String(d.s3cfg.Bucket)}); err == nil {
		rules = "the bucket's CORS rules are " + corsJSON(out.CORSRules)
	}
	fix := func(what string) string {
		return fmt.Sprintf("%s; %s. Allow the app origins to PUT and POST with any header and expose ETag, e.g.\n"+
			"aws s3api put-bucket-cors --bucket %s --cors-configuration '%s'",
			what, rules, d.s3cfg.Bucket, corsRuleJSON(d.origins))
	}
	objURL := publicObjectURL(d.s3cfg, doctorKey(".png"))
	var out []finding
	firstAllowed := false
	for i, o := range d.origins {
		origin := probeOrigin(o)
		code, h, err := d.send("OPTIONS", objURL, map[string]string{
			"Origin": origin, "Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": corsHeaders,
		}, nil)
		switch {
		case err != nil:
			out = append(out, bad("preflight from "+origin+": "+err.Error(), "clients must reach the store's public URL"))
			continue
		case code/100 != 2 || !allowsOrigin(h, origin):
			out = append(out, bad(fmt.Sprintf("a browser on %s may not PUT (preflight answered %d, Access-Control-Allow-Origin %q)", origin, code, h.Get("Access-Control-Allow-Origin")), fix("allow the origin")))
			continue
		case !listAllows(h.Get("Access-Control-Allow-Methods"), "PUT"):
			out = append(out, bad(fmt.Sprintf("a browser on %s may not PUT (Access-Control-Allow-Methods %q)", origin, h.Get("Access-Control-Allow-Methods")), fix("allow PUT")))
			continue
		}
		missing := []string{}
		for _, hd := range strings.Split(corsHeaders, ",") {
			if !listAllows(h.Get("Access-Control-Allow-Headers"), hd) {
				missing = append(missing, hd)
			}
		}
		if len(missing) > 0 {
			out = append(out, bad(fmt.Sprintf("a browser on %s may not send %s", origin, strings.Join(missing, ", ")), fix("allow every header (\"*\")")))
			continue
		}
		out = append(out, ok("a browser on %s may PUT presigned uploads", origin))
		firstAllowed = firstAllowed || i == 0
	}
	// The probe upload was sent from the first origin: its answer is what
	// that page would be allowed to read.
	if d.putHeaders != nil && firstAllowed {
		if listAllows(d.putHeaders.Get("Access-Control-Expose-Headers"), "etag") {
			out = append(out, ok("the store exposes ETag to the page"))
		} else {
			out = append(out, bad(fmt.Sprintf("the store does not expose ETag (Access-Control-Expose-Headers %q): browser uploads cannot read it", d.putHeaders.Get("Access-Control-Expose-Headers")), fix("expose ETag")))
		}
	}
	return out
}

func allowsOrigin(h http.Header, origin string) bool {
	a := h.Get("Access-Control-Allow-Origin")
	return a == "*" || a == origin
}

// listAllows reports whether a comma list header names item, or "*".
func listAllows(list, item string) bool {
	for _, v := range strings.Split(list, ",") {
		v = strings.TrimSpace(v)
		if v == "*" || strings.EqualFold(v, item) {
			return true
		}
	}
	return false
}

// corsRule is a CORS rule as the S3 API's JSON spells it.
type corsRule struct {
	AllowedOrigins []string `json:"AllowedOrigins"`
	AllowedMethods []string `json:"AllowedMethods"`
	AllowedHeaders []string `json:"AllowedHeaders,omitempty"`
	ExposeHeaders  []string `json:"ExposeHeaders,omitempty"`
	MaxAgeSeconds  int32    `json:"MaxAgeSeconds,omitempty"`
}

func corsJSON(rules []types.CORSRule) string {
	rs := make([]corsRule, len(rules))
	for i, r := range rules {
		rs[i] = corsRule{r.AllowedOrigins, r.AllowedMethods, r.AllowedHeaders, r.ExposeHeaders, aws.ToInt32(r.MaxAgeSeconds)}
	}
	b, _ := json.Marshal(rs)
	return string(b)
}

// corsRuleJSON is the configuration that lets origins upload: what the
// fix tells the operator to apply.
func corsRuleJSON(origins []string) string {
	b, _ := json.Marshal(map[string]any{"CORSRules": []corsRule{{
		AllowedOrigins: origins, AllowedMethods: []string{"PUT", "POST", "GET", "HEAD"},
		AllowedHeaders: []string{"*"}, ExposeHeaders: []string{"ETag"}, MaxAgeSeconds: 600,
	}}})
	return string(b)
}

func publicObjectURL(c s3store.Config, key string) string {
	base := c.PublicURL
	if base == "" {
		base = endpointOf(c)
	}
	base = strings.TrimRight(base, "/")
	if c.PathStyle {
		return base + "/" + c.Bucket + "/" + key
	}
	scheme, host, _ := strings.Cut(base, "://")
	return scheme + "://" + c.Bucket + "." + host + "/" + key
}

// maxSkew is the clock difference doctor tolerates. SigV4 allows 15
// minutes, but a presigned URL lives url_ttl (5 minutes by default) from
// sluice's clock, so a skew of minutes eats it or makes URLs "not yet
// valid"; tokens are checked with 60 s of leeway.
const maxSkew = 30 * time.Second

func checkClock(ctx context.Context, d *doctorRun) []finding {
	if d.s3cfg.Bucket == "" {
		return []finding{skip("store not configured")}
	}
	req, err := http.NewRequestWithContext(ctx, "HEAD", endpointOf(d.s3cfg)+"/", nil)
	if err != nil {
		return []finding{skip("%v", err)}
	}
	t0 := time.Now()
	resp, err := d.hc.Do(req)
	if err != nil {
		return []finding{skip("store unreachable: %v", err)}
	}
	resp.Body.Close()
	t1 := time.Now()
	date, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		return []finding{skip("the store sends no Date header to compare with")}
	}
	skew := date.Sub(t0.Add(t1.Sub(t0) / 2))
	// Date has whole seconds: up to a second of difference is rounding.
	if skew.Abs() <= maxSkew+time.Second {
		return []finding{ok("the store's clock is within %v of this host's", skew.Abs().Round(time.Second))}
	}
	return []finding{bad(fmt.Sprintf("the store's clock is %v %s this host's", skew.Abs().Round(time.Second), map[bool]string{true: "ahead of", false: "behind"}[skew > 0]),
		fmt.Sprintf("run NTP (chrony or systemd-timesyncd) on both: presigned URLs are signed with this host's clock and live %v", d.cfg.Policy.URLTTL))}
}

// checkIdentity fetches every configured issuer's keys, as the server
// would before accepting a token.
func checkIdentity(ctx context.Context, d *doctorRun) []finding {
	issuers := append([]oidc.IssuerConfig(nil), d.cfg.Identity.Issuers...)
	var out []finding
	if d.cfg.DevIssuerOn() {
		dir := app.DevIssuerDir(d.cfg.Data)
		raw, err := os.ReadFile(filepath.Join(dir, "issuer"))
		if err != nil {
			out = append(out, skip("development issuer: `sluice serve` has not run with this --data yet"))
		} else if dev, err := oidc.OpenDevIssuer(dir, strings.TrimSpace(string(raw))); err == nil {
			issuers = append(issuers, dev.IssuerConfig())
		}
	}
	for _, is := range issuers {
		if is.FirebaseEmulator {
			out = append(out, skip("%s: Firebase emulator, unsigned tokens: no keys to fetch", firstNonEmpty(is.Issuer, is.Firebase)))
			continue
		}
		v, err := oidc.New(oidc.Config{Issuers: []oidc.IssuerConfig{is}, Leeway: d.cfg.Identity.Leeway, JWKSGrace: d.cfg.Identity.JWKSGrace})
		if err != nil {
			out = append(out, bad(err.Error(), "fix identity.issuers (see docs/identity.md)"))
			continue
		}
		name := firstNonEmpty(is.Issuer, "firebase "+is.Firebase)
		if err := v.Ready(ctx); err != nil {
			out = append(out, bad(name+": keys unreachable: "+cause(err),
				"this host must reach the issuer's discovery document and JWKS over HTTPS (egress, proxy, DNS); check the issuer URL byte for byte, trailing slash included"))
			continue
		}
		out = append(out, ok("%s: signing keys fetched", name))
	}
	return out
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func checkLedger(ctx context.Context, d *doctorRun) []finding {
	if d.cfg.Ledger.Type != app.LedgerPostgres {
		return []finding{skip("SQLite file in %s: nothing to reach", d.cfg.Data)}
	}
	v, err := postgres.Version(ctx, d.cfg.Ledger.DSN)
	if err != nil {
		return []finding{bad(err.Error(), "check ledger.dsn (host, port, user, password, sslmode) and that this host may connect (pg_hba.conf, security groups)")}
	}
	want := postgres.SchemaVersion()
	switch {
	case v < want:
		return []finding{bad(fmt.Sprintf("Postgres reachable; schema version %d, this build needs %d", v, want), "run `sluice migrate` with this configuration (serve also migrates on start)")}
	case v > want:
		return []finding{bad(fmt.Sprintf("Postgres reachable; schema version %d is newer than this build (%d)", v, want), "run the sluice version that migrated it, or newer")}
	}
	return []finding{ok("Postgres reachable, schema at version %d", v)}
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
