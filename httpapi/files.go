package httpapi

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

// formFieldsMax bounds the form fields before the file part of a
// multipart/form-data upload (they are read into memory).
const formFieldsMax = 64 << 10

// bodyIdleTimeout is how long an upload's body may stall before the
// upload is given up: a client that stops sending must not hold its
// connection and one of its concurrent-upload slots for ever.
const bodyIdleTimeout = time.Minute

// uploadFile is POST /v1/files: the file's bytes in the request, either as
// the raw body (Content-Type is the file's) or as the "file" part of a
// multipart/form-data form. The bytes stream to the store as they arrive;
// the answer is the file record.
func (s *Server) uploadFile(w http.ResponseWriter, r *http.Request, id *sluice.Identity) {
	if ce := r.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		s.failUpload(w, r, sluice.Errorf(sluice.CodeInvalidRequest, "Content-Encoding %q is not supported: send the file's bytes as they are", ce))
		return
	}
	r.Body = idleLimited(w, r.Body)
	req, body, err := s.uploadRequest(r)
	if err != nil {
		s.failUpload(w, r, err)
		return
	}
	g, f, err := s.svc.ProxyUpload(r.Context(), id, req, body, s.meta(r))
	if g != nil {
		// Where the outcome stays on record, refusals included.
		w.Header().Set("Sluice-Upload-Id", g.ID)
	}
	if err != nil {
		s.failUpload(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/files/"+f.ID)
	writeJSON(w, http.StatusCreated, f)
}

// failUpload answers a refused upload. A refusal can come while the client
// is still sending: the connection is closed after the answer, or net/http
// would first read (up to 256 KiB of) a body nobody wants, and wait for it
// if the client holds it back.
func (s *Server) failUpload(w http.ResponseWriter, r *http.Request, err error) {
	if sluice.IsCode(err, sluice.CodeTooManyUploads) {
		w.Header().Set("Retry-After", "1")
	}
	w.Header().Set("Connection", "close")
	s.fail(w, r, err)
}

// uploadRequest reads what the request declares about the file and
// returns the stream of the file's bytes.
func (s *Server) uploadRequest(r *http.Request) (sluice.StreamRequest, io.Reader, error) {
	req := sluice.StreamRequest{Filename: r.URL.Query().Get("filename"), ContentType: r.Header.Get("Content-Type"), Size: r.ContentLength}
	sum, err := declaredSHA256(r.Header)
	if err != nil {
		return req, nil, err
	}
	req.SHA256 = sum
	mt, params, _ := mime.ParseMediaType(req.ContentType)
	if mt != "multipart/form-data" {
		return req, r.Body, nil
	}
	if r.Header.Get("Content-Digest") != "" {
		return req, nil, sluice.Errorf(sluice.CodeInvalidChecksum, "Content-Digest covers the whole form, not the file: send the file's SHA-256 as X-Checksum-Sha256 or a sha256 field")
	}
	// The form's framing and fields come on top of the file; a form far
	// larger than the largest file is refused before it is read.
	if r.ContentLength > s.svc.Policy.MaxSize+formFieldsMax {
		return req, nil, sluice.Errorf(sluice.CodeTooLarge, "size %d exceeds the maximum of %d bytes", r.ContentLength, s.svc.Policy.MaxSize)
	}
	return formFile(multipart.NewReader(r.Body, params["boundary"]), req)
}

// formFile reads the fields of a form up to its "file" part and returns
// that part as the file. Fields after the file are not read: they would
// arrive too late to matter. Fields that are not sluice's are skipped, so
// that forms may carry their own (a CSRF token, say).
func formFile(mr *multipart.Reader, req sluice.StreamRequest) (sluice.StreamRequest, io.Reader, error) {
	req.Size = -1 // a part's length is not known until its boundary
	req.ContentType = ""
	budget := int64(formFieldsMax)
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return req, nil, sluice.Errorf(sluice.CodeInvalidRequest, "the form has no \"file\" part")
		}
		if err != nil {
			return req, nil, sluice.Wrap(sluice.CodeInvalidRequest, err, "the body is not a valid multipart/form-data form")
		}
		if part.FormName() == "file" {
			if req.ContentType == "" {
				req.ContentType = part.Header.Get("Content-Type")
			}
			if req.Filename == "" {
				req.Filename = part.FileName()
			}
			return req, part, nil
		}
		v, err := io.ReadAll(io.LimitReader(part, budget+1))
		if err != nil {
			return req, nil, sluice.Wrap(sluice.CodeInvalidRequest, err, "the body is not a valid multipart/form-data form")
		}
		if budget -= int64(len(v)); budget < 0 {
			return req, nil, sluice.Errorf(sluice.CodeInvalidRequest, "the form's fields before the file exceed %d bytes", formFieldsMax)
		}
		switch part.FormName() {
		case "filename":
			req.Filename = string(v)
		case "content_type":
			req.ContentType = string(v)
		case "sha256":
			if req.SHA256 != "" && !strings.EqualFold(req.SHA256, string(v)) {
				return req, nil, sluice.Errorf(sluice.CodeInvalidChecksum, "the sha256 field and X-Checksum-Sha256 differ")
			}
			req.SHA256 = string(v)
		}
	}
}

// declaredSHA256 is the file's SHA-256 as the request declares it, in
// lowercase hex: from X-Checksum-Sha256 (hex) or an RFC 9530
// Content-Digest with sha-256; both must agree when both are sent.
func declaredSHA256(h http.Header) (string, error) {
	x, err := sluice.NormalizeSHA256(strings.TrimSpace(h.Get("X-Checksum-Sha256")))
	if err != nil {
		return "", sluice.Errorf(sluice.CodeInvalidChecksum, "X-Checksum-Sha256 must be 64 hex characters")
	}
	cd := h.Values("Content-Digest")
	if len(cd) == 0 {
		return x, nil
	}
	d, err := contentDigest(strings.Join(cd, ","))
	if err != nil {
		return "", err
	}
	if x != "" && x != d {
		return "", sluice.Errorf(sluice.CodeInvalidChecksum, "Content-Digest and X-Checksum-Sha256 differ")
	}
	return d, nil
}

// contentDigest returns the sha-256 member of a Content-Digest field (a
// structured-field dictionary such as `sha-256=:<base64>:, sha-512=:…:`)
// in hex. A field without sha-256 is refused rather than ignored: the
// client asked for a check sluice could not make.
func contentDigest(field string) (string, error) {
	for _, member := range strings.Split(field, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(member), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "sha-256") {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) < 2 || v[0] != ':' || v[len(v)-1] != ':' {
			return "", sluice.Errorf(sluice.CodeInvalidChecksum, "Content-Digest sha-256 must be :<base64>:")
		}
		raw, err := base64.StdEncoding.DecodeString(v[1 : len(v)-1])
		if err != nil || len(raw) != 32 {
			return "", sluice.Errorf(sluice.CodeInvalidChecksum, "Content-Digest sha-256 must be the base64 of 32 bytes")
		}
		return hex.EncodeToString(raw), nil
	}
	return "", sluice.Errorf(sluice.CodeInvalidChecksum, "Content-Digest has no sha-256; it is the only algorithm sluice checks")
}

// idleLimited gives up reading body once a read waits bodyIdleTimeout for
// the client, by moving the connection's read deadline forward before
// reads (about once a second, not on every read). It is moved before a
// read rather than after one, so that time spent writing to the store
// between reads is never counted against the client.
func idleLimited(w http.ResponseWriter, body io.ReadCloser) io.ReadCloser {
	rc := http.NewResponseController(w)
	if rc.SetReadDeadline(time.Now().Add(bodyIdleTimeout)) != nil {
		return body // not supported by this connection: no deadline to move
	}
	return &idleBody{ReadCloser: body, rc: rc, set: time.Now()}
}

type idleBody struct {
	io.ReadCloser
	rc  *http.ResponseController
	set time.Time
}

func (b *idleBody) Read(p []byte) (int, error) {
	if now := time.Now(); now.Sub(b.set) > time.Second {
		b.set = now
		b.rc.SetReadDeadline(now.Add(bodyIdleTimeout))
	}
	return b.ReadCloser.Read(p)
}
