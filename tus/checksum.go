package tus

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"io"
	"net/http"
	"strings"

	"github.com/sluicehq/sluice"
)

// checksumAlgorithms are the Upload-Checksum algorithms accepted; the
// checksum extension requires sha1.
const checksumAlgorithms = "sha1,sha256"

// statusChecksumMismatch is the tus checksum extension's answer to a chunk
// whose checksum does not hold.
const statusChecksumMismatch = 460

// checkChunk verifies the body of r against its Upload-Checksum before tusd
// sees a byte of it, so that a chunk that fails is not appended (tusd's S3
// store would have sent parts of it to the store already). The chunk is
// held in memory meanwhile, hence the bound. On success r's body is the
// verified chunk.
func (h *Handler) checkChunk(r *http.Request) (int, error) {
	alg, enc, _ := strings.Cut(strings.TrimSpace(r.Header.Get("Upload-Checksum")), " ")
	var hh hash.Hash
	switch strings.ToLower(alg) {
	case "sha1":
		hh = sha1.New()
	case "sha256":
		hh = sha256.New()
	default:
		return http.StatusBadRequest, sluice.Errorf(sluice.CodeInvalidChecksum, "Upload-Checksum algorithm %q is not supported; use one of %s", alg, checksumAlgorithms)
	}
	want, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
	if err != nil || len(want) != hh.Size() {
		return http.StatusBadRequest, sluice.Errorf(sluice.CodeInvalidChecksum, "Upload-Checksum must be %q followed by the base64 %s of the chunk", alg, alg)
	}
	n := r.ContentLength
	switch {
	case n < 0:
		return http.StatusLengthRequired, sluice.Errorf(sluice.CodeInvalidRequest, "a chunk with Upload-Checksum needs a Content-Length")
	case n > h.cfg.ChecksumChunk:
		return 0, sluice.Errorf(sluice.CodeTooLarge, "a chunk with Upload-Checksum may be at most %d bytes; send smaller chunks", h.cfg.ChecksumChunk)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r.Body, buf); err != nil {
		return 0, sluice.Wrap(sluice.CodeUploadIncomplete, err, "the chunk ended before its Content-Length")
	}
	hh.Write(buf)
	if !bytes.Equal(hh.Sum(nil), want) {
		return statusChecksumMismatch, sluice.Errorf(sluice.CodeChecksumMismatch, "the chunk's %s differs from Upload-Checksum; nothing was appended, send it again", alg)
	}
	r.Body = io.NopCloser(bytes.NewReader(buf))
	return 0, nil
}
