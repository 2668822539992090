package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/client"
)

// The client commands that work on stored files (ls, get, rm), and the
// connection flags every client command shares.

func init() {
	register(&command{name: "ls", usage: "[--server URL] [--token T] [--json]", summary: "list your uploaded files", run: ls})
	register(&command{name: "get", usage: "ID -o OUT [--server URL] [--token T]", summary: "download a file (-o - for stdout)", run: get})
	register(&command{name: "rm", usage: "ID [--server URL] [--token T]", summary: "delete a file", run: rm})
}

const defaultServer = "http://127.0.0.1:8080"

// conn is where a client command finds the server and who it is there.
type conn struct{ server, token string }

func connFlags(env *Env, fs *flag.FlagSet) *conn {
	c := &conn{}
	fs.StringVar(&c.server, "server", envOr(env, "SLUICE_SERVER", defaultServer), "sluice server URL ($SLUICE_SERVER)")
	// The token's default is not shown in -h output, and $SLUICE_TOKEN is
	// preferred: command lines are visible to other users in ps.
	fs.StringVar(&c.token, "token", "", "ID token (default $SLUICE_TOKEN)")
	return c
}

// client returns an API client, or explains how to get a token.
func (c *conn) client(env *Env) (*client.Client, error) {
	tok := c.token
	if tok == "" {
		tok = envOr(env, "SLUICE_TOKEN", "")
	}
	if tok == "" {
		return nil, sluice.Errorf(sluice.CodeTokenMissing,
			"no ID token: set SLUICE_TOKEN or pass --token; for a development server run "+
				"export SLUICE_TOKEN=$(sluice token --dev --data DIR --sub NAME)")
	}
	return client.New(c.server, tok, client.WithUserAgent("sluice-cli")), nil
}

// oneArg returns the single positional argument a command takes.
func oneArg(fs *flag.FlagSet, args []string, what string) (string, error) {
	if len(args) != 1 || args[0] == "" {
		fmt.Fprintf(fs.Output(), "%s: want exactly one %s\n", fs.Name(), what)
		fs.Usage()
		return "", errUsage
	}
	return args[0], nil
}

func ls(ctx context.Context, env *Env, args []string) error {
	fs := flags(env, commands["ls"])
	cn := connFlags(env, fs)
	asJSON := fs.Bool("json", false, "print the files as JSON")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		fmt.Fprintf(env.Stderr, "%s: takes no arguments\n", fs.Name())
		return errUsage
	}
	cl, err := cn.client(env)
	if err != nil {
		return err
	}
	files, err := cl.AllFiles(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		if files == nil {
			files = []*sluice.File{} // [] rather than null for scripts
		}
		return printJSON(env.Stdout, files)
	}
	return printFiles(env.Stdout, files)
}

func printFiles(w io.Writer, files []*sluice.File) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSIZE\tTYPE\tCREATED\tFILENAME")
	for _, f := range files {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", f.ID, f.Size, f.ContentType, f.CreatedAt.UTC().Format(time.RFC3339), f.Filename)
	}
	return tw.Flush()
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func get(ctx context.Context, env *Env, args []string) error {
	fs := flags(env, commands["get"])
	cn := connFlags(env, fs)
	out := fs.String("o", "", "write to this file (required; - for stdout)")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	id, err := oneArg(fs, rest, "file ID")
	if err != nil {
		return err
	}
	if *out == "" {
		fmt.Fprintf(env.Stderr, "%s: -o OUT is required (-o - for stdout)\n", fs.Name())
		return errUsage
	}
	cl, err := cn.client(env)
	if err != nil {
		return err
	}
	n, err := download(ctx, env, cl, id, *out)
	if err != nil {
		return err
	}
	to := *out
	if to == "-" {
		to = "stdout"
	}
	fmt.Fprintf(env.Stderr, "wrote %d bytes to %s\n", n, to)
	return nil
}

// download writes file id to out. A file is written under a temporary name
// in the same directory and renamed into place only when complete, so an
// interrupted download never leaves a truncated OUT behind. The file keeps
// CreateTemp's 0600: it is the user's own, private upload.
func download(ctx context.Context, env *Env, cl *client.Client, id, out string) (int64, error) {
	if out == "-" {
		return cl.Download(ctx, id, env.Stdout)
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".sluice-get-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	n, err := cl.Download(ctx, id, tmp)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, err
	}
	return n, os.Rename(tmp.Name(), out)
}

func rm(ctx context.Context, env *Env, args []string) error {
	fs := flags(env, commands["rm"])
	cn := connFlags(env, fs)
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	id, err := oneArg(fs, rest, "file ID")
	if err != nil {
		return err
	}
	cl, err := cn.client(env)
	if err != nil {
		return err
	}
	if err := cl.Delete(ctx, id); err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "deleted %s\n", id)
	return nil
}
