package sluice

// Observer is told what the Service did, for metrics. Calls are made
// inline on the request path: an Observer must be quick, safe for
// concurrent use and never block. The Grant it receives must not be kept
// or changed.
type Observer interface {
	// GrantIssued follows a grant's recording in the ledger.
	GrantIssued(g *Grant)
	// GrantFinished follows a grant leaving pending (complete, rejected
	// with g.RejectCode, or expired), once per grant, by the request whose
	// ledger write won.
	GrantFinished(g *Grant)
}
