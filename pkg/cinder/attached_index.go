package cinder

import (
	"context"
	"slices"
	"sync"
	"time"
)

// attachedIndexMaxAge bounds how long the index trusts a listing: attachments made
// by other processes (an admin, another cluster's controller) show within it.
const attachedIndexMaxAge = time.Minute

// attachedIndex knows, for the Cinder attachments path, which volumes are attached
// to which host. Cinder cannot filter volumes or attachments by host, so finding
// one node's volumes means reading every volume of the project that can hold an
// attachment (a status filter leaves out the available ones): the index does that once
// for every node and then keeps itself current with this attacher's own attaches
// and detaches, so that a publish costs the same with 10 or 10,000 volumes in
// the project. A listing older than attachedIndexMaxAge, or a caller asking for a
// fresh answer (before refusing a publish), reads the project again.
//
// Changes made while a listing is in flight are journaled and replayed on its
// result, so that an attach finishing during a rebuild is not lost.
type attachedIndex struct {
	mu      sync.Mutex
	byNode  map[string]map[string]bool // host -> volume IDs
	built   time.Time                  // when the listing behind byNode began; zero: none
	journal []indexChange              // changes since the running listing began
	listing bool
	now     func() time.Time
	// list reads the whole project: host -> volume IDs.
	list func(ctx context.Context) (map[string]map[string]bool, error)
	// rebuild serialises listings: concurrent callers wait for one.
	rebuild sync.Mutex
}

type indexChange struct {
	node, volumeID string
	attached       bool
}

// volumes returns the IDs attached to node, sorted; fresh reads the project first.
func (x *attachedIndex) volumes(ctx context.Context, node string, fresh bool) ([]string, error) {
	x.mu.Lock()
	asked, seen := x.now(), x.built
	x.mu.Unlock()
	var done func(built time.Time) bool // whether a listing made meanwhile will do
	switch {
	case fresh:
		done = func(built time.Time) bool { return built.After(asked) }
	case seen.IsZero() || asked.Sub(seen) > attachedIndexMaxAge:
		done = func(built time.Time) bool { return !built.Equal(seen) }
	}
	if done != nil {
		if err := x.refresh(ctx, done); err != nil {
			return nil, err
		}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	ids := make([]string, 0, len(x.byNode[node]))
	for id := range x.byNode[node] {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}

// refresh lists the project, unless a listing made while this caller waited for
// its turn will do.
func (x *attachedIndex) refresh(ctx context.Context, done func(built time.Time) bool) error {
	x.rebuild.Lock()
	defer x.rebuild.Unlock()
	x.mu.Lock()
	if !x.built.IsZero() && done(x.built) {
		x.mu.Unlock()
		return nil
	}
	began := x.now()
	x.listing, x.journal = true, nil
	x.mu.Unlock()

	byNode, err := x.list(ctx)

	x.mu.Lock()
	defer x.mu.Unlock()
	x.listing = false
	journal := x.journal
	x.journal = nil
	if err != nil {
		return err
	}
	for _, ch := range journal {
		apply(byNode, ch)
	}
	x.byNode, x.built = byNode, began
	return nil
}

// record notes an attach or detach this attacher finished.
func (x *attachedIndex) record(node, volumeID string, attached bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	ch := indexChange{node, volumeID, attached}
	if x.listing {
		x.journal = append(x.journal, ch)
	}
	if x.byNode != nil {
		apply(x.byNode, ch)
	}
}

func apply(byNode map[string]map[string]bool, ch indexChange) {
	if ch.attached {
		if byNode[ch.node] == nil {
			byNode[ch.node] = map[string]bool{}
		}
		byNode[ch.node][ch.volumeID] = true
		return
	}
	delete(byNode[ch.node], ch.volumeID)
	if len(byNode[ch.node]) == 0 {
		delete(byNode, ch.node)
	}
}
