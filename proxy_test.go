package sluice

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
)

func TestLocalLimiter(t *testing.T) {
	l := NewLocalLimiter(2)
	ctx := context.Background()
	alice, bob := Owner{"iss", "alice"}, Owner{"iss", "bob"}
	r1, err1 := l.Acquire(ctx, alice)
	_, err2 := l.Acquire(ctx, alice)
	if err1 != nil || err2 != nil {
		t.Fatalf("first two: %v %v", err1, err2)
	}
	if _, err := l.Acquire(ctx, alice); !IsCode(err, CodeTooManyUploads) || HTTPStatus(ErrorCode(err)) != http.StatusTooManyRequests {
		t.Errorf("third: %v, want too_many_uploads (429)", err)
	}
	if _, err := l.Acquire(ctx, bob); err != nil {
		t.Errorf("another user: %v", err)
	}
	if _, err := l.Acquire(ctx, Owner{"other-iss", "alice"}); err != nil {
		t.Errorf("the same subject from another issuer is another user: %v", err)
	}
	r1()
	r1() // a second release must not free a slot it does not hold
	if _, err := l.Acquire(ctx, alice); err != nil {
		t.Errorf("after a release: %v", err)
	}
	if _, err := l.Acquire(ctx, alice); !IsCode(err, CodeTooManyUploads) {
		t.Errorf("a double release freed two slots: %v", err)
	}
}

// brokenReader yields b, then err.
type brokenReader struct {
	b   []byte
	err error
}

func (r *brokenReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, r.err
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

func TestGuard(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 1000)
	cases := []struct {
		name      string
		r         io.Reader
		size, max int64
		code      Code // "" for a clean read of all of body
		read      int64
	}{
		{"exact size", bytes.NewReader(body), 1000, 5000, "", 1000},
		{"unknown size under the maximum", bytes.NewReader(body), -1, 1000, "", 1000},
		{"ends before its size", bytes.NewReader(body), 1500, 5000, CodeUploadIncomplete, 1000},
		{"unknown size over the maximum", bytes.NewReader(body), -1, 999, CodeTooLarge, -1},
		{"client went away", &brokenReader{body, io.ErrUnexpectedEOF}, -1, 5000, CodeUploadIncomplete, 1000},
		{"connection reset", &brokenReader{body, errors.New("read: connection reset by peer")}, 2000, 5000, CodeUploadIncomplete, 1000},
		{"net/http's own limit", &brokenReader{body, &http.MaxBytesError{Limit: 1000}}, -1, 5000, CodeTooLarge, 1000},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := &guard{r: c.r, size: c.size, max: c.max}
			got, err := io.ReadAll(g)
			if c.code == "" {
				if err != nil || !bytes.Equal(got, body) {
					t.Fatalf("read %d bytes, err %v", len(got), err)
				}
				return
			}
			if !IsCode(err, c.code) || !IsCode(g.err, c.code) {
				t.Fatalf("err %v (kept %v), want %s", err, g.err, c.code)
			}
			if int64(len(got)) > c.max {
				t.Errorf("passed on %d bytes, over the maximum of %d", len(got), c.max)
			}
			if _, again := g.Read(make([]byte, 10)); again != g.err {
				t.Errorf("read after the failure: %v, want the same error", again)
			}
		})
	}
}
