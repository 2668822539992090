package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/httpapi"
)

// These tests stand up a fake of the sluice API only, to check what the
// client does with its answers. Uploads through a real store, with real
// signatures, are tested end to end against the real server.

const token = "test-token"

func fakeAPI(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func sluiceError(t *testing.T, err error) *sluice.Error {
	t.Helper()
	var se *sluice.Error
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T) is not a *sluice.Error", err, err)
	}
	return se
}

func TestAPIErrorBecomesSluiceError(t *testing.T) {
	var gotAuth, gotPath string
	srv := fakeAPI(t, func(w http.ResponseWriter, r *http.Request) {
		gotAuth, gotPath = r.Header.Get("Authorization"), r.Method+" "+r.URL.Path
		var b httpapi.ErrorBody
		b.Error.Code = sluice.CodeChecksumMismatch
		b.Error.Message = "the stored bytes do not match the declared sha256"
		writeJSON(w, http.StatusUnprocessableEntity, b)
	})
	_, err := New(srv.URL, token).Complete(context.Background(), "g1")
	se := sluiceError(t, err)
	if se.Code != sluice.CodeChecksumMismatch || se.Message != "the stored bytes do not match the declared sha256" {
		t.Errorf("got %q %q", se.Code, se.Message)
	}
	if gotAuth != "Bearer "+token || gotPath != "POST /v1/uploads/g1/complete" {
		t.Errorf("request was %q with Authorization %q", gotPath, gotAuth)
	}
}

func TestNonJSONErrorFallsBackToStatus(t *testing.T) {
	cases := []struct {
		status int
		want   sluice.Code
	}{
		{http.StatusBadGateway, sluice.CodeUnavailable},
		{http.StatusGatewayTimeout, sluice.CodeUnavailable},
		{http.StatusServiceUnavailable, sluice.CodeUnavailable},
		{http.StatusInternalServerError, sluice.CodeInternal},
		{http.StatusNotFound, sluice.CodeNotFound},
		{http.StatusTooManyRequests, sluice.CodeRateLimited},
		{http.StatusTeapot, sluice.CodeInvalidRequest},
	}
	for _, tc := range cases {
		srv := fakeAPI(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(tc.status)
			w.Write([]byte("<html><body>Bad Gateway</body></html>"))
		})
		_, err := New(srv.URL, token).File(context.Background(), "f1")
		se := sluiceError(t, err)
		if se.Code != tc.want || !strings.Contains(se.Message, http.StatusText(tc.status)) {
			t.Errorf("%d: got %q %q, want code %q and the status in the message", tc.status, se.Code, se.Message, tc.want)
		}
	}
}

// A JSON answer that is not sluice's error shape must not be mistaken for
// one with an empty code.
func TestForeignJSONErrorFallsBackToStatus(t *testing.T) {
	srv := fakeAPI(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusBadGateway, map[string]string{"message": "upstream down"})
	})
	err := New(srv.URL, token).Delete(context.Background(), "f1")
	if se := sluiceError(t, err); se.Code != sluice.CodeUnavailable {
		t.Errorf("got %q, want %q", se.Code, sluice.CodeUnavailable)
	}
}

func TestFallbackCodesAgreeWithTheStatusTable(t *testing.T) {
	for status, code := range fallbackCodes {
		if got := sluice.HTTPStatus(code); got != status {
			t.Errorf("status %d falls back to %q, which sluice answers with %d", status, code, got)
		}
	}
}

func TestMissingTokenNeverReachesServer(t *testing.T) {
	var hits atomic.Int32
	srv := fakeAPI(t, func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })
	for _, tok := range []string{"", "  "} {
		_, err := New(srv.URL, tok).Files(context.Background(), "", 0)
		if se := sluiceError(t, err); se.Code != sluice.CodeTokenMissing {
			t.Errorf("token %q: got %q, want %q", tok, se.Code, sluice.CodeTokenMissing)
		}
	}
	if hits.Load() != 0 {
		t.Errorf("the server was called %d times without a token", hits.Load())
	}
}

func TestBadServerURL(t *testing.T) {
	for _, u := range []string{"", "localhost:8080", "ftp://x", "http://"} {
		_, err := New(u, token).File(context.Background(), "f1")
		if se := sluiceError(t, err); se.Code != sluice.CodeInvalidRequest {
			t.Errorf("%q: got %q", u, se.Code)
		}
	}
}

func TestAllFilesWalksCursors(t *testing.T) {
	pages := map[string]httpapi.FileList{
		"":   {Files: files("a", "b"), NextCursor: "c1"},
		"c1": {Files: files("c"), NextCursor: "c2"},
		"c2": {Files: files("d")},
	}
	var cursors []string
	srv := fakeAPI(t, func(w http.ResponseWriter, r *http.Request) {
		c := r.URL.Query().Get("cursor")
		cursors = append(cursors, c)
		writeJSON(w, http.StatusOK, pages[c])
	})
	all, err := New(srv.URL, token).AllFiles(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(all); got != "a b c d" {
		t.Errorf("files %q, want a b c d", got)
	}
	if got := strings.Join(cursors, ","); got != ",c1,c2" {
		t.Errorf("cursors sent %q, want \",c1,c2\"", got)
	}
}

func TestAllFilesStopsOnRepeatedCursor(t *testing.T) {
	var hits atomic.Int32
	srv := fakeAPI(t, func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) > 10 { // a broken client would loop; fail instead of hanging
			w.WriteHeader(http.StatusTeapot)
			return
		}
		writeJSON(w, http.StatusOK, httpapi.FileList{Files: files("x"), NextCursor: "same"})
	})
	_, err := New(srv.URL, token).AllFiles(context.Background())
	if se := sluiceError(t, err); se.Code != sluice.CodeInternal || !strings.Contains(se.Message, "repeated") {
		t.Errorf("got %v after %d calls, want a repeated-cursor error", err, hits.Load())
	}
}

func TestFilesSendsLimit(t *testing.T) {
	var q string
	srv := fakeAPI(t, func(w http.ResponseWriter, r *http.Request) {
		q = r.URL.RawQuery
		writeJSON(w, http.StatusOK, httpapi.FileList{Files: []*sluice.File{}})
	})
	if _, err := New(srv.URL, token).Files(context.Background(), "c/1", 5); err != nil {
		t.Fatal(err)
	}
	if q != "cursor=c%2F1&limit=5" {
		t.Errorf("query %q", q)
	}
}

// The API client must not follow a redirect: it would carry the bearer
// token, or a POST body, somewhere the user did not point it.
func TestAPIRedirectIsNotFollowed(t *testing.T) {
	var followed atomic.Bool
	target := fakeAPI(t, func(w http.ResponseWriter, r *http.Request) { followed.Store(true) })
	srv := fakeAPI(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/elsewhere?X-Amz-Signature=secret", http.StatusFound)
	})
	_, err := New(srv.URL, token).File(context.Background(), "f1")
	se := sluiceError(t, err)
	if followed.Load() {
		t.Error("the redirect was followed")
	}
	if !strings.Contains(se.Message, "/elsewhere") || strings.Contains(err.Error(), "secret") {
		t.Errorf("message %q should name the target without its query", err)
	}
}

func TestDownloadSendsNoTokenToStore(t *testing.T) {
	content := []byte("the stored bytes")
	var storeAuth atomic.Value
	store := fakeAPI(t, func(w http.ResponseWriter, r *http.Request) {
		storeAuth.Store(r.Header.Get("Authorization"))
		w.Write(content)
	})
	var redirectParam string
	srv := fakeAPI(t, func(w http.ResponseWriter, r *http.Request) {
		redirectParam = r.URL.Query().Get("redirect")
		writeJSON(w, http.StatusOK, httpapi.ContentURL{URL: store.URL + "/bucket/key?X-Amz-Signature=s", ExpiresAt: time.Now().Add(time.Minute)})
	})
	var buf bytes.Buffer
	n, err := New(srv.URL, token).Download(context.Background(), "f1", &buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(len(content)) || !bytes.Equal(buf.Bytes(), content) {
		t.Errorf("got %d bytes %q", n, buf.Bytes())
	}
	if redirectParam != "false" {
		t.Errorf("content URL asked with redirect=%q, want false", redirectParam)
	}
	if a, _ := storeAuth.Load().(string); a != "" {
		t.Errorf("the store got Authorization %q", a)
	}
}

func TestStoreUnreachableHidesSignature(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/bucket/key?X-Amz-Signature=secret", nil)
	_, err = New("http://127.0.0.1", token).storeDo(req, "download", http.StatusOK)
	se := sluiceError(t, err)
	if se.Code != sluice.CodeUnavailable || strings.Contains(err.Error(), "secret") || !strings.Contains(err.Error(), "/bucket/key") {
		t.Errorf("got %q", err)
	}
}

func files(ids ...string) []*sluice.File {
	var fs []*sluice.File
	for _, id := range ids {
		fs = append(fs, &sluice.File{ID: id})
	}
	return fs
}

func ids(fs []*sluice.File) string {
	var s []string
	for _, f := range fs {
		s = append(s, f.ID)
	}
	return strings.Join(s, " ")
}
