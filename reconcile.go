package sluice

import (
	"context"
	"encoding/json"
	"path"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
)

// MethodDirect is the method of a grant the reconciler records for an
// object it found under users/ that no grant asked for: one written with
// STS credentials (option 4), which never pass through sluice.
const MethodDirect = "DIRECT"

// ReconcileLedger is the optional capability of a Ledger to serve the
// reconciler. Implementations pass ledgertest.RunReconcile.
type ReconcileLedger interface {
	// PendingExpired returns up to limit pending grants that expired
	// before before, the longest expired first.
	PendingExpired(ctx context.Context, before time.Time, limit int) ([]*Grant, error)
	// KeyKnown reports whether a file, or a pending grant, records key.
	KeyKnown(ctx context.Context, key string) (bool, error)
	// RegisterFile records g, a grant that is already finished (complete
	// with its file f, or rejected with f nil), together with its outbox
	// event, in one transaction. CodeConflict if g's ID or f's key is taken.
	RegisterFile(ctx context.Context, g *Grant, f *File) error
	// PrefixIssuer returns the issuer of the most recently issued STS
	// credential for key prefix, or CodeNotFound if none was issued.
	PrefixIssuer(ctx context.Context, prefix string) (string, error)
}

// ObjectLister is the optional capability of a Store to list its objects.
type ObjectLister interface {
	// ListObjects returns one page of the objects under prefix in key
	// order, after cursor (empty for the first page); next is empty on the
	// last page. ContentType and SHA256 are not filled in.
	ListObjects(ctx context.Context, prefix, cursor string) (objs []ObjectInfo, next string, err error)
}

// MultipartUpload is an incomplete multipart upload in a store.
type MultipartUpload struct {
	Key       string
	UploadID  string
	Initiated time.Time
}

// MultipartAborter is the optional capability of a Store to list and abort
// incomplete multipart uploads.
type MultipartAborter interface {
	// MultipartUploads lists the incomplete multipart uploads under prefix.
	MultipartUploads(ctx context.Context, prefix string) ([]MultipartUpload, error)
	// AbortMultipart drops one and its parts; a missing one is not an
	// error.
	AbortMultipart(ctx context.Context, key, uploadID string) error
}

// ReconcileGrant settles a pending grant the reconciler found past its
// expiry, exactly as complete would: the object is verified and recorded,
// or deleted and the grant rejected; without an object it expires.
func (s *Service) ReconcileGrant(ctx context.Context, g *Grant) (*File, error) {
	if g.State != GrantPending {
		return s.outcome(ctx, g)
	}
	return s.completeGrant(ctx, g)
}

// DiscoveredOwner names the user an object under users/{sub}/ belongs to;
// ok is false when the key is not of that shape or sub is not one sluice
// would ever have used.
func DiscoveredOwner(key string) (subject string, ok bool) {
	rest, found := strings.CutPrefix(key, "users/")
	if !found {
		return "", false
	}
	sub, name, found := strings.Cut(rest, "/")
	if !found || name == "" || !SafeSubject(sub) {
		return "", false
	}
	return sub, true
}

// typeOfKey is the content type a key's extension names, "" if none.
func typeOfKey(key string) string {
	ext := strings.ToLower(path.Ext(key))
	if ext == ".jpeg" {
		return "image/jpeg"
	}
	for t, e := range extensions {
		if e == ext {
			return t
		}
	}
	return ""
}

// CheckDiscovered verifies an object no grant asked for, as complete
// verifies a granted one: its key is under a safe users/{sub}/ prefix, its
// size within the policy, its extension names an allowed type, the type
// it was stored with is that one, and its first bytes are of that type. It
// returns the content type, or the *Error saying why the object must go
// (CodeUnavailable and CodeInternal mean the store failed: try later).
func (s *Service) CheckDiscovered(ctx context.Context, info *ObjectInfo) (string, error) {
	if _, ok := DiscoveredOwner(info.Key); !ok {
		return "", Errorf(CodeSubjectUnsupported, "object %q is not under a user's prefix", info.Key)
	}
	if err := s.Policy.CheckSize(info.Size); err != nil {
		return "", err
	}
	ct, err := s.Policy.ContentType(typeOfKey(info.Key))
	if err != nil {
		return "", Errorf(CodeTypeNotAllowed, "the extension of %q names no allowed type", info.Key)
	}
	if stored, err := s.Policy.ContentType(info.ContentType); err != nil || stored != ct {
		return "", Errorf(CodeContentMismatch, "stored with content type %q, the key says %s", info.ContentType, ct)
	}
	head, err := s.readHead(ctx, info.Key)
	if err != nil {
		return "", err
	}
	if err := Sniff(head, ct); err != nil {
		return "", err
	}
	return ct, nil
}

// DiscoveredGrant is the finished grant the reconciler records for a
// discovered object of o: complete, with its file, when why is nil, else
// rejected for why.
func (s *Service) DiscoveredGrant(info *ObjectInfo, o Owner, contentType string, why error) (*Grant, *File) {
	now := s.now().UTC()
	g := &Grant{
		ID: s.newID(), Key: info.Key, Method: MethodDirect, Issuer: o.Issuer, Subject: o.Subject,
		Filename: path.Base(info.Key), ContentType: contentType, Size: info.Size, SHA256: info.SHA256,
		CreatedAt: info.Modified.UTC(), ExpiresAt: info.Modified.UTC(), FinishedAt: now, State: GrantComplete,
	}
	if g.CreatedAt.IsZero() {
		g.CreatedAt, g.ExpiresAt = now, now
	}
	if why != nil {
		g.State, g.RejectCode, g.RejectReason = GrantRejected, ErrorCode(why), ErrorMessage(why)
		return g, nil
	}
	return g, &File{
		ID: g.ID, Key: g.Key, Filename: g.Filename, ContentType: contentType, Size: info.Size,
		SHA256: info.SHA256, ETag: info.ETag, Issuer: o.Issuer, Subject: o.Subject, CreatedAt: now,
	}
}

// NewEventID makes an outbox event ID: "evt_" and a ULID, so IDs sort by
// creation.
func NewEventID() string { return "evt_" + strings.ToLower(ulid.Make().String()) }

// FileEventData is the payload of file.completed and file.deleted: the file
// record with its owner.
type FileEventData struct {
	ID          string    `json:"id"`
	Key         string    `json:"key"`
	Issuer      string    `json:"iss"`
	Subject     string    `json:"sub"`
	Filename    string    `json:"filename,omitempty"`
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256,omitempty"`
	ETag        string    `json:"etag,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	DeletedAt   time.Time `json:"deleted_at,omitzero"`
}

// RejectedEventData is the payload of file.rejected: which grant, whose,
// and why (the error code complete answered).
type RejectedEventData struct {
	GrantID string `json:"grant_id"`
	Key     string `json:"key"`
	Issuer  string `json:"iss"`
	Subject string `json:"sub"`
	Code    Code   `json:"code"`
	Reason  string `json:"reason"`
}

// UserEventData is the payload of user.banned.
type UserEventData struct {
	Issuer  string    `json:"iss"`
	Subject string    `json:"sub"`
	At      time.Time `json:"at"`
	Reason  string    `json:"reason,omitempty"`
}

func newEvent(t EventType, at time.Time, data any) *Event {
	raw, _ := json.Marshal(data) // plain structs: cannot fail
	return &Event{ID: NewEventID(), Type: t, CreatedAt: at.UTC(), Data: raw, NextAttempt: at.UTC()}
}

func fileData(f *File) FileEventData {
	return FileEventData{
		ID: f.ID, Key: f.Key, Issuer: f.Issuer, Subject: f.Subject, Filename: f.Filename,
		ContentType: f.ContentType, Size: f.Size, SHA256: f.SHA256, ETag: f.ETag, CreatedAt: f.CreatedAt.UTC(),
	}
}

// FinishedEvent is the event a ledger writes with a grant leaving pending:
// file.completed (f is its file) or file.rejected; nil for an expired
// grant, which nobody uploaded.
func FinishedEvent(g *Grant, f *File) *Event {
	switch {
	case g.State == GrantComplete && f != nil:
		return newEvent(EventFileCompleted, g.FinishedAt, fileData(f))
	case g.State == GrantRejected:
		return newEvent(EventFileRejected, g.FinishedAt, RejectedEventData{
			GrantID: g.ID, Key: g.Key, Issuer: g.Issuer, Subject: g.Subject, Code: g.RejectCode, Reason: g.RejectReason,
		})
	}
	return nil
}

// DeletedEvent is the event a ledger writes with a file's deletion.
func DeletedEvent(f *File, at time.Time) *Event {
	d := fileData(f)
	d.DeletedAt = at.UTC()
	return newEvent(EventFileDeleted, at, d)
}

// BannedEvent is the event to write, in the ban's own transaction, when o
// is banned.
func BannedEvent(o Owner, at time.Time, reason string) *Event {
	return newEvent(EventUserBanned, at, UserEventData{Issuer: o.Issuer, Subject: o.Subject, At: at.UTC(), Reason: reason})
}
