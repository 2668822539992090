package storetest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"testing"

	"github.com/sluicehq/sluice"
)

// bigBody is larger than any store's default part size (8 MiB for S3
// stores), so that a stream of it takes the multipart path where there is
// one.
const bigBody = 12 << 20

// testStream checks the StreamPutter capability: round trips of known and
// unknown sizes on both sides of the part size, and that every failure
// (wrong checksum, a body that breaks, ends early or runs over the maximum,
// a cancelled context, an existing key) leaves neither an object nor a
// multipart upload behind. Stores with ChecksumBinding refuse a wrong
// checksum themselves; the others are still held to it here, since
// PutStream sees every byte and can check before committing.
func testStream(t *testing.T, st sluice.Store, sp sluice.StreamPutter, prefix string, key func(string) string, caps Capabilities) {
	sizes := []struct {
		name string
		n    int
	}{{"small", 100 << 10}, {"big", bigBody}}

	for _, sz := range sizes {
		for _, known := range []bool{true, false} {
			name := sz.name + map[bool]string{true: "/known-size", false: "/unknown-size"}[known]
			t.Run("RoundTrip/"+name, func(t *testing.T) {
				body := Body(sz.n)
				k := key(".png")
				p := streamParams(k, body, known)
				p.SHA256 = SHA256(body)
				info, err := sp.PutStream(context.Background(), p, bytes.NewReader(body))
				if err != nil {
					t.Fatalf("PutStream: %v", err)
				}
				if info.Size != int64(len(body)) || info.SHA256 != SHA256(body) || info.Key != k {
					t.Errorf("PutStream = %+v, want size %d sha %s", info, len(body), SHA256(body))
				}
				checkStored(t, st, k, body)
				noPending(t, sp, prefix, k)
			})
			t.Run("NoChecksumDeclared/"+name, func(t *testing.T) {
				body := Body(sz.n)
				k := key(".png")
				info, err := sp.PutStream(context.Background(), streamParams(k, body, known), bytes.NewReader(body))
				if err != nil {
					t.Fatalf("PutStream: %v", err)
				}
				if info.SHA256 != SHA256(body) {
					t.Errorf("SHA256 %q, want %q computed on the way", info.SHA256, SHA256(body))
				}
				checkStored(t, st, k, body)
			})
		}
	}

	boom := errors.New("storetest: the client went away")
	failures := []struct {
		name  string
		n     int
		known bool
		code  sluice.Code
		cause error
		setup func(p *sluice.StreamParams, body []byte) io.Reader
	}{
		{"wrong checksum/small", 100 << 10, true, sluice.CodeChecksumMismatch, nil, wrongSum},
		{"wrong checksum/small unknown size", 100 << 10, false, sluice.CodeChecksumMismatch, nil, wrongSum},
		{"wrong checksum/big", bigBody, true, sluice.CodeChecksumMismatch, nil, wrongSum},
		{"wrong checksum/big unknown size", bigBody, false, sluice.CodeChecksumMismatch, nil, wrongSum},
		{"body breaks/small", 100 << 10, true, "", boom, breakAfter(50<<10, boom)},
		{"body breaks/big", bigBody, true, "", boom, breakAfter(10<<20, boom)},
		{"body breaks/big unknown size", bigBody, false, "", boom, breakAfter(10<<20, boom)},
		{"body ends early/small", 100 << 10, true, sluice.CodeUploadIncomplete, nil, endAfter(60 << 10)},
		{"body ends early/big", bigBody, true, sluice.CodeUploadIncomplete, nil, endAfter(10 << 20)},
		{"over the maximum/small", 2 << 20, false, sluice.CodeTooLarge, nil, maxOf(1 << 20)},
		{"over the maximum/big", bigBody, false, sluice.CodeTooLarge, nil, maxOf(10 << 20)},
	}
	for _, f := range failures {
		t.Run("Refused/"+f.name, func(t *testing.T) {
			body := Body(f.n)
			k := key(".png")
			p := streamParams(k, body, f.known)
			r := f.setup(&p, body)
			_, err := sp.PutStream(context.Background(), p, r)
			switch {
			case err == nil:
				t.Fatal("PutStream succeeded")
			case f.cause != nil && !errors.Is(err, f.cause):
				t.Errorf("error %v does not wrap the body's own error", err)
			case f.code != "" && !sluice.IsCode(err, f.code):
				t.Errorf("error %v, want code %s", err, f.code)
			}
			nothingLeft(t, st, sp, prefix, k)
		})
	}

	t.Run("Refused/context cancelled mid-stream", func(t *testing.T) {
		for _, n := range []int{100 << 10, bigBody} {
			body := Body(n)
			k := key(".png")
			ctx, cancel := context.WithCancel(context.Background())
			r := &onRead{r: bytes.NewReader(body), at: int64(n / 2), fn: cancel}
			_, err := sp.PutStream(ctx, streamParams(k, body, true), r)
			cancel()
			if err == nil {
				t.Fatalf("%d bytes: PutStream succeeded after its context ended", n)
			}
			nothingLeft(t, st, sp, prefix, k)
		}
	})

	t.Run("NeverOverwrites", func(t *testing.T) {
		if !caps.ConditionalWrite {
			t.Skip("store declares no ConditionalWrite: a stream could replace an object")
		}
		for _, n := range []int{100 << 10, bigBody} {
			first, second := Body(n), Body(n)
			k := key(".png")
			if _, err := sp.PutStream(context.Background(), streamParams(k, first, true), bytes.NewReader(first)); err != nil {
				t.Fatal(err)
			}
			_, err := sp.PutStream(context.Background(), streamParams(k, second, false), bytes.NewReader(second))
			if !sluice.IsCode(err, sluice.CodeConflict) {
				t.Errorf("%d bytes: second PutStream to the same key: %v, want conflict", n, err)
			}
			checkStored(t, st, k, first)
			noPending(t, sp, prefix, k)
		}
	})
}

func streamParams(key string, body []byte, known bool) sluice.StreamParams {
	p := sluice.StreamParams{Key: key, ContentType: "image/png", Size: int64(len(body)), MaxSize: 64 << 20}
	if !known {
		p.Size = -1
	}
	return p
}

func wrongSum(p *sluice.StreamParams, body []byte) io.Reader {
	other := bytes.Clone(body)
	other[len(other)-1] ^= 1
	p.SHA256 = SHA256(other)
	return bytes.NewReader(body)
}

func breakAfter(n int64, err error) func(*sluice.StreamParams, []byte) io.Reader {
	return func(_ *sluice.StreamParams, body []byte) io.Reader {
		return io.MultiReader(bytes.NewReader(body[:n]), errReader{err})
	}
}

func endAfter(n int64) func(*sluice.StreamParams, []byte) io.Reader {
	return func(_ *sluice.StreamParams, body []byte) io.Reader { return bytes.NewReader(body[:n]) }
}

func maxOf(n int64) func(*sluice.StreamParams, []byte) io.Reader {
	return func(p *sluice.StreamParams, body []byte) io.Reader {
		p.MaxSize = n
		return bytes.NewReader(body)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// onRead calls fn once at least `at` bytes have been read, and keeps going.
type onRead struct {
	r    io.Reader
	n    int64
	at   int64
	fn   func()
	done bool
}

func (o *onRead) Read(p []byte) (int, error) {
	n, err := o.r.Read(p)
	o.n += int64(n)
	if o.n >= o.at && !o.done {
		o.done = true
		o.fn()
	}
	return n, err
}

// checkStored reads key back and compares it with body.
func checkStored(t *testing.T, st sluice.Store, key string, body []byte) {
	t.Helper()
	info, err := st.Head(context.Background(), key)
	if err != nil {
		t.Fatalf("Head: %v", err)
	}
	if info.Size != int64(len(body)) || info.ContentType != "image/png" {
		t.Errorf("Head: size %d type %q, want %d image/png", info.Size, info.ContentType, len(body))
	}
	rc, err := st.ReadRange(context.Background(), key, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, body) {
		t.Errorf("read back %d bytes, not the %d written", len(got), len(body))
	}
}

// nothingLeft checks that key has neither an object nor a multipart upload.
func nothingLeft(t *testing.T, st sluice.Store, sp sluice.StreamPutter, prefix, key string) {
	t.Helper()
	if _, err := st.Head(context.Background(), key); !sluice.IsCode(err, sluice.CodeNotFound) {
		t.Errorf("a refused stream left an object (Head: %v)", err)
	}
	noPending(t, sp, prefix, key)
}

func noPending(t *testing.T, sp sluice.StreamPutter, prefix, key string) {
	t.Helper()
	keys, err := sp.PendingUploads(context.Background(), prefix)
	if err != nil {
		t.Fatalf("PendingUploads: %v", err)
	}
	if slices.Contains(keys, key) {
		t.Errorf("a multipart upload of %s is left behind", key)
	}
}
