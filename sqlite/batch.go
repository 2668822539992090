package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync/atomic"

	"github.com/sluicehq/sluice"
)

// Group commit. A commit costs about as much as all the inserts of a small
// batch together, so CreateGrant does not insert on its own: it hands its
// grant to the writer goroutine, which takes every request waiting at that
// moment (up to maxBatch) and inserts them in one transaction. Under light
// load a batch is one grant and costs a plain insert plus a goroutine
// handoff (about 6µs, measured); under heavy load callers wait for the
// commit in flight and then share the next one.

// maxBatch bounds a batch so that one commit, and so the wait of the first
// caller in it, stays short.
const maxBatch = 256

// insertReq is one CreateGrant waiting for the writer.
type insertReq struct {
	g     *sluice.Grant
	adm   *sluice.Admission // nil for a plain CreateGrant
	state atomic.Int32      // queued, taken or abandoned
	done  chan error        // buffered: the writer never waits on a caller
}

const (
	queued int32 = iota
	taken
	abandoned
)

// CreateGrant records g as a new pending grant. It fails with CodeConflict
// if g.ID is in use, and with CodeInternal if g is not pending. It returns
// once the grant is committed, or with an error when it was not recorded;
// if ctx ends after the writer took the grant, CreateGrant still waits for
// the commit so that its answer stays true.
func (l *Ledger) CreateGrant(ctx context.Context, g *sluice.Grant) error {
	return l.createGrant(ctx, g, nil)
}

// createGrant hands g, and what must admit it (nil: nothing), to the
// writer goroutine and waits for its answer.
func (l *Ledger) createGrant(ctx context.Context, g *sluice.Grant, adm *sluice.Admission) error {
	if g.State != "" && g.State != sluice.GrantPending {
		return sluice.Errorf(sluice.CodeInternal, "ledger: a new grant must be pending, not %q", g.State)
	}
	if err := ctx.Err(); err != nil {
		return l.fail(err, "record the upload")
	}
	r := &insertReq{g: g, adm: adm, done: make(chan error, 1)}
	select {
	case l.inserts <- r:
	case <-l.closing:
		return sluice.Errorf(sluice.CodeUnavailable, "the ledger is closed")
	case <-ctx.Done():
		return l.fail(ctx.Err(), "record the upload")
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		if r.state.CompareAndSwap(queued, abandoned) {
			return l.fail(ctx.Err(), "record the upload")
		}
		return <-r.done
	}
}

// writeLoop is the writer goroutine: it runs until Close, one batch at a
// time. Because inserts is unbuffered, a request is either taken here and
// answered, or never sent: nothing is left unanswered when it stops.
func (l *Ledger) writeLoop() {
	defer close(l.writerDone)
	batch := make([]*insertReq, 0, maxBatch)
	for {
		select {
		case r := <-l.inserts:
			batch = l.gather(append(batch[:0], r))
			l.commit(batch)
			clear(batch) // let answered grants be collected
		case <-l.closing:
			return
		}
	}
}

// gather adds the requests already waiting, without waiting for more:
// holding a batch open for latecomers would add latency at low load, and at
// high load the commit in flight already lets the next batch fill.
func (l *Ledger) gather(batch []*insertReq) []*insertReq {
	for len(batch) < maxBatch {
		select {
		case r := <-l.inserts:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// commit records the batch's grants and answers each caller with the error
// for its own grant: one bad row does not fail the others.
func (l *Ledger) commit(batch []*insertReq) {
	live := batch[:0]
	for _, r := range batch {
		if r.state.CompareAndSwap(queued, taken) {
			live = append(live, r)
		}
	}
	switch len(live) {
	case 0:
		return
	case 1:
		l.insertAlone(live[0])
		return
	}
	errs, err := l.insertBatch(live)
	switch {
	case err == nil:
		for i, r := range live {
			r.done <- l.fail(errs[i], "record the upload")
		}
	case transient(err):
		// A busy or full database fails each row alone just the same.
		for _, r := range live {
			r.done <- l.fail(err, "record the upload")
		}
	default:
		// Something about one row sank the transaction: give each its own.
		for _, r := range live {
			l.insertAlone(r)
		}
	}
}

// insertBatch inserts the batch in one transaction and returns each row's
// error. A constraint error fails only its statement in SQLite, so the
// transaction carries on; if a row's error did end the transaction, Commit
// fails and commit retries the rows one by one.
func (l *Ledger) insertBatch(batch []*insertReq) ([]error, error) {
	errs := make([]error, len(batch))
	ctx := context.Background() // callers' contexts were honoured before taking
	err := l.inTx(ctx, func(tx *sql.Tx) error {
		stmt := tx.StmtContext(ctx, l.insertGrant)
		var qs *quotaStmts // bound on the first grant that needs them
		for i, r := range batch {
			if r.adm != nil {
				if qs == nil {
					qs = l.quota.in(ctx, tx)
				}
				refused, err := admitAndInsert(ctx, qs, stmt, r.g, r.adm)
				if err != nil {
					return err
				}
				errs[i] = refused
				continue
			}
			if _, err := stmt.ExecContext(ctx, grantArgs(r.g)...); err != nil {
				if transient(err) {
					return err
				}
				errs[i] = err
			}
		}
		return nil
	})
	return errs, err
}

// insertAlone inserts one grant in its own (implicit) transaction.
func (l *Ledger) insertAlone(r *insertReq) {
	if r.adm != nil {
		// Admission needs a transaction of its own: a batch of one.
		errs, err := l.insertBatch([]*insertReq{r})
		r.done <- l.fail(errors.Join(err, errs[0]), "record the upload")
		return
	}
	_, err := l.insertGrant.ExecContext(context.Background(), grantArgs(r.g)...)
	r.done <- l.fail(err, "record the upload")
}
