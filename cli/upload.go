package cli

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/client"
)

func init() {
	register(&command{
		name:    "upload",
		usage:   "FILE [--server URL] [--token T] [--method PUT|POST] [--direct [--role ARN]] [--proxy] [--resumable [--resume URL]] [--type CONTENT-TYPE] [--json]",
		summary: "upload a file: straight to the object store through a presigned URL, or through sluice (--proxy, --resumable), or signed here with STS credentials (--direct)",
		run:     upload,
	})
}

// uploadFlags are the upload command's flags.
type uploadFlags struct {
	conn        *conn
	method      string
	contentType string
	json        bool
	// selfSigned (--direct) signs the PUT here with temporary credentials
	// from sluice's STS (option 4), as role.
	selfSigned bool
	role       string
	// proxy (--proxy) sends the bytes through sluice in one request;
	// resumable (--resumable) through sluice with tus, in checksummed
	// chunks, resuming resumeURL when given.
	proxy     bool
	resumable bool
	resumeURL string
	stderr    io.Writer
}

// uploader sends one file to sluice by one route and returns its record.
type uploader func(ctx context.Context, cl *client.Client, path string, opts client.UploadOptions) (*sluice.File, error)

// direct sends the bytes straight to the store through a presigned PUT or
// POST, then has the server verify them.
func direct(ctx context.Context, cl *client.Client, path string, opts client.UploadOptions) (*sluice.File, error) {
	return cl.UploadFile(ctx, path, opts)
}

// signed trades the ID token for temporary credentials at sluice's STS and
// signs the PUT here with aws-sdk-go-v2: no server call per upload.
func (f *uploadFlags) signed(ctx context.Context, cl *client.Client, path string, opts client.UploadOptions) (*sluice.File, error) {
	return cl.Direct(client.CredentialsOptions{RoleARN: f.role, SessionName: "sluice-cli"}).UploadFile(ctx, path, opts)
}

// route picks the route the flags ask for. Modes such as --proxy or
// --resumable add a flag and a case here.
func (f *uploadFlags) route() (uploader, error) {
	switch {
	case f.selfSigned:
		return f.signed, nil
	case f.proxy:
		return proxied, nil
	case f.resumable:
		return f.tus, nil
	}
	return direct, nil
}

// proxied sends the bytes through sluice (POST /v1/files), which checks
// them on the way to the store.
func proxied(ctx context.Context, cl *client.Client, path string, opts client.UploadOptions) (*sluice.File, error) {
	return cl.ProxyFile(ctx, path, opts)
}

// tus sends the bytes through sluice in resumable chunks. If it fails for
// good, it says how to take the same upload up again later.
func (f *uploadFlags) tus(ctx context.Context, cl *client.Client, path string, opts client.UploadOptions) (*sluice.File, error) {
	started := f.resumeURL
	file, err := cl.ResumableFile(ctx, path, client.ResumableOptions{
		UploadOptions: opts, URL: f.resumeURL,
		OnCreate: func(u string) { started = u },
	})
	if err != nil && started != "" {
		fmt.Fprintf(f.stderr, "the upload can be resumed: sluice upload --resumable --resume '%s' %s\n", started, path)
	}
	return file, err
}

// check refuses bad flags before the file is hashed, which for a large file
// takes a while.
func (f *uploadFlags) check() error {
	f.method = strings.ToUpper(f.method)
	if f.method != sluice.MethodPUT && f.method != sluice.MethodPOST {
		return fmt.Errorf("--method must be PUT or POST, not %q", f.method)
	}
	if f.selfSigned && f.method != sluice.MethodPUT {
		return fmt.Errorf("--direct uploads by PUT only")
	}
	if f.role != "" && !f.selfSigned {
		return fmt.Errorf("--role goes with --direct")
	}
	if f.resumeURL != "" {
		f.resumable = true
	}
	modes := 0
	for _, on := range []bool{f.selfSigned, f.proxy, f.resumable} {
		if on {
			modes++
		}
	}
	if modes > 1 {
		return fmt.Errorf("--direct, --proxy and --resumable are different routes; pick one")
	}
	if (f.proxy || f.resumable) && f.method != sluice.MethodPUT {
		return fmt.Errorf("--method chooses a presigned request; it does not go with --proxy or --resumable")
	}
	return nil
}

func upload(ctx context.Context, env *Env, args []string) error {
	fs := flags(env, commands["upload"])
	f := &uploadFlags{conn: connFlags(env, fs), stderr: env.Stderr}
	fs.StringVar(&f.method, "method", sluice.MethodPUT, "upload by PUT or by POST (a multipart form, as browsers send)")
	fs.StringVar(&f.contentType, "type", "", "content type (default: guessed from the extension, then the first bytes)")
	fs.BoolVar(&f.json, "json", false, "print the file record as JSON")
	fs.BoolVar(&f.selfSigned, "direct", false, "sign the PUT here with temporary credentials from the server's STS (users/{sub}/ only)")
	fs.StringVar(&f.role, "role", "", "with --direct, the role to assume (default: the server's default role)")
	fs.BoolVar(&f.proxy, "proxy", false, "send the bytes through sluice in one request (POST /v1/files)")
	fs.BoolVar(&f.resumable, "resumable", false, "send the bytes through sluice in resumable, checksummed chunks (tus)")
	fs.StringVar(&f.resumeURL, "resume", "", "with --resumable, the URL of an interrupted upload to take up again")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	path, err := oneArg(fs, rest, "FILE")
	if err != nil {
		return err
	}
	if err := f.check(); err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", fs.Name(), err)
		return errUsage
	}
	send, err := f.route()
	if err != nil {
		return err
	}
	cl, err := f.conn.client(env)
	if err != nil {
		return err
	}
	bar := &bar{env: env, name: filepath.Base(path)}
	file, err := send(ctx, cl, path, client.UploadOptions{Method: f.method, ContentType: f.contentType, Progress: bar.update})
	bar.done()
	if err != nil {
		return err
	}
	if f.json {
		return printJSON(env.Stdout, file)
	}
	printFile(env.Stdout, file)
	return nil
}

func printFile(w io.Writer, f *sluice.File) {
	fmt.Fprintf(w, "id:     %s\n", f.ID)
	fmt.Fprintf(w, "key:    %s\n", f.Key)
	fmt.Fprintf(w, "size:   %d\n", f.Size)
	fmt.Fprintf(w, "sha256: %s\n", f.SHA256)
}

// bar is an upload progress bar on stderr, drawn only when stderr is a
// terminal so that logs and pipes get no control characters. It is created
// on the first progress report, which carries the total.
type bar struct {
	env  *Env
	name string
	pb   *progressbar.ProgressBar
}

func (b *bar) update(sent, total int64) {
	if !b.env.IsTerminal || total <= 0 {
		return
	}
	if b.pb == nil {
		w := b.env.Stderr
		b.pb = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(b.name),
			progressbar.OptionShowBytes(true),
			progressbar.OptionShowCount(),
			progressbar.OptionShowTotalBytes(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
		)
	}
	b.pb.Set64(sent)
}

// done ends the bar's line if the upload stopped short of the total.
func (b *bar) done() {
	if b.pb != nil && !b.pb.IsFinished() {
		b.pb.Exit()
	}
}
