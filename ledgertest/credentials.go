package ledgertest

import (
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// RunCredentials runs the conformance suite of sluice.CredentialLedger, the
// optional capability the STS endpoint needs. open must return a working,
// empty ledger that implements it. Beyond the interface's doc comments, it
// holds every implementation to:
//
//   - Times within a millisecond, in UTC, as for grants; a zero RevokedAt
//     comes back zero.
//   - Revocation of a credential never recorded is CodeNotFound, so a
//     session token that did not go through the ledger is refused.
//   - A second RevokeCredential keeps the first instant; RevokeSubject
//     replaces the instant (so it can also lift a revocation).
//   - A subject revocation applies to that issuer's subject only.
func RunCredentials(t *testing.T, open func(t *testing.T) sluice.Ledger) {
	tests := []struct {
		name string
		fn   func(*testing.T, *fixture, sluice.CredentialLedger)
	}{
		{"CredentialRoundTrip", testCredentialRoundTrip},
		{"CredentialDuplicate", testCredentialDuplicate},
		{"CredentialNotFound", testCredentialNotFound},
		{"RevokeCredential", testRevokeCredential},
		{"RevokeSubject", testRevokeSubject},
		{"RevocationConcurrent", testRevocationConcurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := opened(t, open)
			cl := capability[sluice.CredentialLedger](t, l)
			tt.fn(t, newFixture(t, l), cl)
		})
	}
}

// credential returns a credential of o with every field set.
func (f *fixture) credential(o sluice.Owner) *sluice.Credential {
	return &sluice.Credential{
		AccessKeyID: "ASIA" + f.id(),
		Issuer:      o.Issuer,
		Subject:     o.Subject,
		Email:       o.Subject + "@example.com",
		RoleARN:     "arn:aws:iam::000000000000:role/sluice-uploader",
		SessionName: "Été-app@device.1",
		Bucket:      "sluice",
		Prefix:      "users/" + o.Subject + "/",
		ClientIP:    "2001:db8::1",
		UserAgent:   "aws-sdk-go-v2/1.0 sluice-ledgertest",
		IssuedAt:    base,
		ExpiresAt:   base.Add(time.Hour),
	}
}

func (f *fixture) recordCredential(cl sluice.CredentialLedger, o sluice.Owner) *sluice.Credential {
	f.t.Helper()
	c := f.credential(o)
	if err := cl.RecordCredential(f.ctx, c); err != nil {
		f.t.Fatalf("RecordCredential: %v", err)
	}
	return c
}

func checkCredential(t *testing.T, got, want *sluice.Credential) {
	t.Helper()
	checkTime(t, "Credential.IssuedAt", got.IssuedAt, want.IssuedAt)
	checkTime(t, "Credential.ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	checkTime(t, "Credential.RevokedAt", got.RevokedAt, want.RevokedAt)
	g, w := *got, *want
	g.IssuedAt, g.ExpiresAt, g.RevokedAt = time.Time{}, time.Time{}, time.Time{}
	w.IssuedAt, w.ExpiresAt, w.RevokedAt = time.Time{}, time.Time{}, time.Time{}
	if g != w {
		t.Errorf("credential (times aside):\n got %+v\nwant %+v", g, w)
	}
}

func testCredentialRoundTrip(t *testing.T, f *fixture, cl sluice.CredentialLedger) {
	want := f.recordCredential(cl, f.owner("alice"))
	got, err := cl.Credential(f.ctx, want.AccessKeyID)
	if err != nil {
		t.Fatalf("Credential: %v", err)
	}
	checkCredential(t, got, want)

	r, err := cl.Revocation(f.ctx, want.AccessKeyID, want.Owner())
	if err != nil {
		t.Fatalf("Revocation: %v", err)
	}
	if r != (sluice.Revocation{}) || r.Revokes(base) {
		t.Errorf("fresh credential: revocation %+v, want none", r)
	}
}

func testCredentialDuplicate(t *testing.T, f *fixture, cl sluice.CredentialLedger) {
	first := f.recordCredential(cl, f.owner("alice"))
	dup := f.credential(f.owner("mallory"))
	dup.AccessKeyID = first.AccessKeyID
	checkCode(t, "RecordCredential with a used access key id", cl.RecordCredential(f.ctx, dup), sluice.CodeConflict)
	got, err := cl.Credential(f.ctx, first.AccessKeyID)
	if err != nil {
		t.Fatal(err)
	}
	checkCredential(t, got, first)
}

func testCredentialNotFound(t *testing.T, f *fixture, cl sluice.CredentialLedger) {
	unknown := "ASIA" + f.id()
	_, err := cl.Credential(f.ctx, unknown)
	checkCode(t, "Credential(unknown)", err, sluice.CodeNotFound)
	_, err = cl.Revocation(f.ctx, unknown, f.owner("alice"))
	checkCode(t, "Revocation(unknown)", err, sluice.CodeNotFound)
	checkCode(t, "RevokeCredential(unknown)", cl.RevokeCredential(f.ctx, unknown, base), sluice.CodeNotFound)
}

func testRevokeCredential(t *testing.T, f *fixture, cl sluice.CredentialLedger) {
	alice := f.owner("alice")
	c := f.recordCredential(cl, alice)
	other := f.recordCredential(cl, alice)
	at := base.Add(10*time.Minute + 123*time.Millisecond)
	if err := cl.RevokeCredential(f.ctx, c.AccessKeyID, at); err != nil {
		t.Fatalf("RevokeCredential: %v", err)
	}
	if err := cl.RevokeCredential(f.ctx, c.AccessKeyID, at.Add(time.Minute)); err != nil {
		t.Fatalf("RevokeCredential again: %v", err)
	}
	r, err := cl.Revocation(f.ctx, c.AccessKeyID, alice)
	if err != nil {
		t.Fatal(err)
	}
	checkTime(t, "CredentialRevokedAt", r.CredentialRevokedAt, at)
	if !r.Revokes(c.IssuedAt) {
		t.Errorf("revoked credential: %+v does not revoke it", r)
	}
	got, err := cl.Credential(f.ctx, c.AccessKeyID)
	if err != nil {
		t.Fatal(err)
	}
	checkTime(t, "Credential.RevokedAt", got.RevokedAt, at)

	// The same user's other credential is untouched.
	if r, err := cl.Revocation(f.ctx, other.AccessKeyID, alice); err != nil || r.Revokes(other.IssuedAt) {
		t.Errorf("other credential of the same user: %+v, %v; want not revoked", r, err)
	}
}

func testRevokeSubject(t *testing.T, f *fixture, cl sluice.CredentialLedger) {
	alice, bob := f.owner("alice"), f.owner("bob")
	// Same subject at another issuer: another user.
	aliceElsewhere := sluice.Owner{Issuer: alice.Issuer + "/other", Subject: alice.Subject}
	ca, cb, ce := f.recordCredential(cl, alice), f.recordCredential(cl, bob), f.recordCredential(cl, aliceElsewhere)

	if got, err := cl.SubjectRevokedBefore(f.ctx, alice); err != nil || !got.IsZero() {
		t.Errorf("SubjectRevokedBefore of a user never revoked: %v, %v; want zero", got, err)
	}
	before := base.Add(time.Minute)
	if err := cl.RevokeSubject(f.ctx, alice, before); err != nil {
		t.Fatalf("RevokeSubject: %v", err)
	}
	if got, err := cl.SubjectRevokedBefore(f.ctx, alice); err != nil {
		t.Errorf("SubjectRevokedBefore: %v", err)
	} else {
		checkTime(t, "SubjectRevokedBefore", got, before)
	}
	if got, err := cl.SubjectRevokedBefore(f.ctx, aliceElsewhere); err != nil || !got.IsZero() {
		t.Errorf("SubjectRevokedBefore of the same subject at another issuer: %v, %v; want zero", got, err)
	}
	r, err := cl.Revocation(f.ctx, ca.AccessKeyID, alice)
	if err != nil {
		t.Fatal(err)
	}
	checkTime(t, "SubjectRevokedBefore", r.SubjectRevokedBefore, before)
	if !r.Revokes(ca.IssuedAt) || r.Revokes(before) || r.Revokes(before.Add(time.Second)) {
		t.Errorf("revoked before %v: Revokes(issued %v)=%v, Revokes(%v)=%v", before, ca.IssuedAt, r.Revokes(ca.IssuedAt), before, r.Revokes(before))
	}
	for _, c := range []*sluice.Credential{cb, ce} {
		if r, err := cl.Revocation(f.ctx, c.AccessKeyID, c.Owner()); err != nil || r != (sluice.Revocation{}) {
			t.Errorf("%s at %s: %+v, %v; want untouched", c.Subject, c.Issuer, r, err)
		}
	}

	// A later call replaces the instant, earlier or later.
	if err := cl.RevokeSubject(f.ctx, alice, base.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	r, err = cl.Revocation(f.ctx, ca.AccessKeyID, alice)
	if err != nil {
		t.Fatal(err)
	}
	checkTime(t, "SubjectRevokedBefore after lifting", r.SubjectRevokedBefore, base.Add(-time.Hour))
	if r.Revokes(ca.IssuedAt) {
		t.Errorf("lifted revocation still revokes: %+v", r)
	}
}

// Every S3 request of a session reads its revocation (through a short
// cache); reads while revocations are written must neither fail nor block.
func testRevocationConcurrent(t *testing.T, f *fixture, cl sluice.CredentialLedger) {
	alice := f.owner("alice")
	creds := make([]*sluice.Credential, 20)
	for i := range creds {
		creds[i] = f.recordCredential(cl, alice)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i, c := range creds {
		wg.Go(func() {
			if i%2 == 0 {
				errs <- cl.RevokeCredential(f.ctx, c.AccessKeyID, base.Add(time.Minute))
			}
			for range 5 {
				_, err := cl.Revocation(f.ctx, c.AccessKeyID, alice)
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent revocation: %v", err)
		}
	}
	for i, c := range creds {
		r, err := cl.Revocation(f.ctx, c.AccessKeyID, alice)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := r.Revokes(c.IssuedAt), i%2 == 0; got != want {
			t.Errorf("credential %d revoked = %v, want %v", i, got, want)
		}
	}
}
