// Package sluice is the domain of the sluice upload server: who may put which
// bytes where, for how long, and what is recorded about it.
//
// It holds the types (Identity, Grant, File, Policy), the one error type with
// its codes, the interfaces the domain needs from the outside world (Verifier,
// Store, Ledger) and the Service that ties them together. It imports nothing
// else of sluice's; every adapter lives in its own package.
package sluice

import (
	"context"
	"io"
	"time"
)

// Identity is a verified end user, as handed over by a Verifier.
type Identity struct {
	Issuer        string         `json:"iss"`
	Subject       string         `json:"sub"`
	Email         string         `json:"email,omitempty"`
	EmailVerified bool           `json:"email_verified,omitempty"`
	ExpiresAt     time.Time      `json:"exp"`
	Claims        map[string]any `json:"-"`
}

// Verifier checks a bearer ID token and returns who it names.
//
// Verify returns an *Error with one of the token_* codes when the token is
// refused, and CodeIdentityUnavailable when it cannot be checked at all
// (issuer keys unreachable past their grace period). It never returns an
// Identity for a token it did not verify.
type Verifier interface {
	Verify(ctx context.Context, token string) (*Identity, error)
}

// GrantState is where an upload grant is in its life.
type GrantState string

const (
	GrantPending  GrantState = "pending"
	GrantComplete GrantState = "complete"
	GrantRejected GrantState = "rejected"
	GrantExpired  GrantState = "expired"
)

// Upload methods a grant can use.
const (
	MethodPUT  = "PUT"
	MethodPOST = "POST"
)

// Grant is one permission to write one object, as recorded in the ledger.
type Grant struct {
	ID          string
	Key         string
	Method      string
	Issuer      string
	Subject     string
	Email       string
	Filename    string
	ContentType string
	Size        int64
	SHA256      string // lowercase hex; empty when the client declared none
	ClientIP    string
	UserAgent   string
	CreatedAt   time.Time
	ExpiresAt   time.Time
	State       GrantState
	// RejectCode and RejectReason say why a grant was rejected, so that a
	// repeated complete answers the same thing.
	RejectCode   Code
	RejectReason string
	FinishedAt   time.Time // when it left pending; zero while pending
}

// Owner is whom a grant or file belongs to. Issuer and subject together name
// a user: two issuers may hand out the same subject.
type Owner struct {
	Issuer  string
	Subject string
}

// Owner returns the grant's owner.
func (g *Grant) Owner() Owner { return Owner{g.Issuer, g.Subject} }

// File is a verified, stored object.
type File struct {
	ID          string    `json:"id"`
	Key         string    `json:"key"`
	Filename    string    `json:"filename,omitempty"`
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256,omitempty"`
	ETag        string    `json:"etag,omitempty"`
	Issuer      string    `json:"-"`
	Subject     string    `json:"-"`
	CreatedAt   time.Time `json:"created_at"`
}

// Owner returns the file's owner.
func (f *File) Owner() Owner { return Owner{f.Issuer, f.Subject} }

// Ledger is the durable record of grants and files. Implementations must be
// safe for concurrent use and pass ledgertest.
type Ledger interface {
	// CreateGrant records a new pending grant. The ID must be new.
	CreateGrant(ctx context.Context, g *Grant) error
	// Grant returns a grant by ID, or CodeNotFound.
	Grant(ctx context.Context, id string) (*Grant, error)
	// FinishGrant moves a pending grant to complete, rejected or expired,
	// setting FinishedAt, RejectCode and RejectReason from g. When the new
	// state is complete, f is recorded in the same transaction. It returns
	// CodeConflict, and changes nothing, if the grant is no longer pending.
	FinishGrant(ctx context.Context, g *Grant, f *File) error
	// File returns a file by ID, or CodeNotFound (also once deleted).
	File(ctx context.Context, id string) (*File, error)
	// Files lists an owner's files, newest first, after the opaque cursor
	// (empty for the first page). next is empty on the last page.
	Files(ctx context.Context, o Owner, cursor string, limit int) (files []*File, next string, err error)
	// DeleteFile forgets a file; CodeNotFound if there is none.
	DeleteFile(ctx context.Context, id string) error
	// Ping reports whether the ledger can be reached.
	Ping(ctx context.Context) error
	Close() error
}

// Store is the object store behind sluice. Implementations translate their
// provider's errors to sluice codes (CodeNotFound, CodeUnavailable) and pass
// storetest.
type Store interface {
	// PresignPut returns a URL that lets anyone holding it write exactly the
	// object p describes: that key, size, content type and (when given)
	// SHA-256, once (If-None-Match: *), until p.Expires.
	PresignPut(ctx context.Context, p PutParams) (*Presigned, error)
	// PresignGet returns a URL, signed at now, that reads key until expires.
	PresignGet(ctx context.Context, key string, now, expires time.Time) (*Presigned, error)
	// Head describes the object at key, or CodeNotFound.
	Head(ctx context.Context, key string) (*ObjectInfo, error)
	// ReadRange returns up to n bytes of the object from offset.
	ReadRange(ctx context.Context, key string, offset, n int64) (io.ReadCloser, error)
	// Delete removes the object; deleting a missing object is not an error.
	Delete(ctx context.Context, key string) error
	// Ping reports whether the store can be reached.
	Ping(ctx context.Context) error
}

// PostPresigner is the optional capability of a Store to hand out browser
// form (POST policy) uploads.
type PostPresigner interface {
	PresignPost(ctx context.Context, p PutParams) (*Presigned, error)
}

// PutParams describes the one object a presigned upload may create.
type PutParams struct {
	Key         string
	ContentType string
	Size        int64
	SHA256      string // lowercase hex; empty for none
	// MaxSize bounds a POST policy's content-length-range; PUTs are bound
	// to Size exactly.
	MaxSize int64
	Expires time.Time
	// Now is the signing time; stores sign with it so signing is a pure
	// function of its inputs.
	Now time.Time
}

// Presigned is a signed request for a client to make directly to the store.
type Presigned struct {
	Method string
	URL    string
	// Headers the client must send with a PUT (beyond Host and
	// Content-Length, which its HTTP stack sets).
	Headers map[string]string
	// Fields are the form fields of a POST upload, to send before the file.
	Fields    map[string]string
	ExpiresAt time.Time
}

// ObjectInfo is what a store says about a stored object.
type ObjectInfo struct {
	Key         string
	Size        int64
	ContentType string
	ETag        string
	SHA256      string // lowercase hex, when the store kept a SHA-256 checksum
	Modified    time.Time
}
