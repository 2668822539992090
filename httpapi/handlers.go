package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/sluicehq/sluice"
)

// UploadRequest is the body of POST /v1/uploads.
type UploadRequest struct {
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256,omitempty"`
	Method      string `json:"method,omitempty"`
}

// UploadResponse is the answer to POST /v1/uploads: where and how to send
// the bytes.
type UploadResponse struct {
	ID        string            `json:"id"`
	Key       string            `json:"key"`
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers"`
	Fields    map[string]string `json:"fields"`
	ExpiresAt time.Time         `json:"expires_at"`
	MaxSize   int64             `json:"max_size"`
}

// GrantResponse is the answer to GET /v1/uploads/{id}.
type GrantResponse struct {
	ID          string            `json:"id"`
	State       sluice.GrantState `json:"state"`
	Key         string            `json:"key"`
	Method      string            `json:"method"`
	Filename    string            `json:"filename,omitempty"`
	ContentType string            `json:"content_type"`
	Size        int64             `json:"size"`
	SHA256      string            `json:"sha256,omitempty"`
	CreatedAt   time.Time         `json:"created_at"`
	ExpiresAt   time.Time         `json:"expires_at"`
	FinishedAt  *time.Time        `json:"finished_at,omitempty"`
	Error       *ErrorDetail      `json:"error,omitempty"`
}

// ErrorDetail says why a grant was rejected.
type ErrorDetail struct {
	Code    sluice.Code `json:"code"`
	Message string      `json:"message"`
}

// FileList is the answer to GET /v1/files.
type FileList struct {
	Files      []*sluice.File `json:"files"`
	NextCursor string         `json:"next_cursor,omitempty"`
}

// ContentURL is the answer to GET /v1/files/{id}/content?redirect=false.
type ContentURL struct {
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (s *Server) createUpload(w http.ResponseWriter, r *http.Request, id *sluice.Identity) {
	var req UploadRequest
	if err := decode(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	up, err := s.svc.CreateUpload(r.Context(), id, sluice.UploadRequest{
		Filename: req.Filename, ContentType: req.ContentType, Size: req.Size, SHA256: req.SHA256, Method: req.Method,
	}, s.meta(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	resp := UploadResponse{
		ID: up.Grant.ID, Key: up.Grant.Key, Method: up.Presigned.Method, URL: up.Presigned.URL,
		Headers: up.Presigned.Headers, Fields: up.Presigned.Fields,
		ExpiresAt: up.Grant.ExpiresAt, MaxSize: up.MaxSize,
	}
	if resp.Headers == nil {
		resp.Headers = map[string]string{}
	}
	if resp.Fields == nil {
		resp.Fields = map[string]string{}
	}
	w.Header().Set("Location", "/v1/uploads/"+up.Grant.ID)
	writeJSON(w, http.StatusCreated, resp)
}

func (s *Server) getUpload(w http.ResponseWriter, r *http.Request, id *sluice.Identity) {
	g, err := s.svc.Upload(r.Context(), id, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	resp := GrantResponse{
		ID: g.ID, State: g.State, Key: g.Key, Method: g.Method, Filename: g.Filename,
		ContentType: g.ContentType, Size: g.Size, SHA256: g.SHA256,
		CreatedAt: g.CreatedAt, ExpiresAt: g.ExpiresAt,
	}
	if !g.FinishedAt.IsZero() {
		resp.FinishedAt = &g.FinishedAt
	}
	if g.State == sluice.GrantRejected {
		resp.Error = &ErrorDetail{Code: g.RejectCode, Message: g.RejectReason}
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) completeUpload(w http.ResponseWriter, r *http.Request, id *sluice.Identity) {
	f, err := s.svc.CompleteUpload(r.Context(), id, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, f)
}

func (s *Server) listFiles(w http.ResponseWriter, r *http.Request, id *sluice.Identity) {
	q := r.URL.Query()
	limit := 100
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			s.fail(w, r, sluice.Errorf(sluice.CodeInvalidRequest, "limit must be a number from 1 to 1000"))
			return
		}
		limit = n
	}
	files, next, err := s.svc.Files(r.Context(), id, q.Get("cursor"), limit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if files == nil {
		files = []*sluice.File{}
	}
	writeJSON(w, http.StatusOK, FileList{Files: files, NextCursor: next})
}

func (s *Server) getFile(w http.ResponseWriter, r *http.Request, id *sluice.Identity) {
	f, err := s.svc.File(r.Context(), id, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, f)
}

// fileContent redirects to a short-lived presigned GET, or with
// ?redirect=false returns it as JSON (for clients that must add no
// Authorization header to the store request).
func (s *Server) fileContent(w http.ResponseWriter, r *http.Request, id *sluice.Identity) {
	p, err := s.svc.DownloadURL(r.Context(), id, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if r.URL.Query().Get("redirect") == "false" {
		writeJSON(w, http.StatusOK, ContentURL{URL: p.URL, ExpiresAt: p.ExpiresAt})
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, p.URL, http.StatusFound)
}

func (s *Server) deleteFile(w http.ResponseWriter, r *http.Request, id *sluice.Identity) {
	if err := s.svc.DeleteFile(r.Context(), id, r.PathValue("id")); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
