package tus

import (
	"context"
	"encoding/json"
	"log/slog"

	xslog "golang.org/x/exp/slog"

	"github.com/sluicehq/sluice"
)

// errorJSON is the body of every sluice error.
func errorJSON(err error) string {
	var b struct {
		Error struct {
			Code    sluice.Code `json:"code"`
			Message string      `json:"message"`
		} `json:"error"`
	}
	b.Error.Code, b.Error.Message = sluice.ErrorCode(err), sluice.ErrorMessage(err)
	out, _ := json.Marshal(b)
	return string(out) + "\n"
}

// tusdLogger hands tusd's warnings and errors to sluice's logger. tusd
// logs through golang.org/x/exp/slog, a type of its own; its info lines
// (one per request and chunk) would only repeat the access log.
func tusdLogger(l *slog.Logger) *xslog.Logger {
	return xslog.New(bridge{l: l})
}

type bridge struct {
	l     *slog.Logger
	attrs []slog.Attr
}

func (b bridge) Enabled(_ context.Context, lvl xslog.Level) bool { return lvl >= xslog.LevelWarn }

func (b bridge) Handle(ctx context.Context, r xslog.Record) error {
	attrs := append(make([]slog.Attr, 0, len(b.attrs)+r.NumAttrs()), b.attrs...)
	r.Attrs(func(a xslog.Attr) bool {
		attrs = append(attrs, slog.Any(a.Key, a.Value.Any()))
		return true
	})
	b.l.LogAttrs(ctx, slog.Level(r.Level), "tusd: "+r.Message, attrs...)
	return nil
}

func (b bridge) WithAttrs(as []xslog.Attr) xslog.Handler {
	next := bridge{l: b.l, attrs: append([]slog.Attr(nil), b.attrs...)}
	for _, a := range as {
		next.attrs = append(next.attrs, slog.Any(a.Key, a.Value.Any()))
	}
	return next
}

func (b bridge) WithGroup(string) xslog.Handler { return b }
