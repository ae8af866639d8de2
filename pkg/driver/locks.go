package driver

import (
	"sync"
)

// keyLocks serialises operations per key (a volume ID, a volume name, a snapshot name).
// A second operation on a busy key fails at once with Aborted instead of queueing:
// the CSI sidecars retry with backoff, and queueing would let stale retries pile up
// behind a slow Cinder call. This is what keeps concurrent CreateVolume retries from
// creating duplicate Cinder volumes, since Cinder names are not unique.
type keyLocks struct {
	mu   sync.Mutex
	busy map[string]struct{}
}

func newKeyLocks() *keyLocks { return &keyLocks{busy: map[string]struct{}{}} }

// tryLock takes key or returns an Aborted status naming what is busy. The returned
// function releases the key.
func (l *keyLocks) tryLock(key, what string) (func(), error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.busy[key]; ok {
		return nil, aborted("an operation on %s is already in progress; retry later", what)
	}
	l.busy[key] = struct{}{}
	return func() {
		l.mu.Lock()
		delete(l.busy, key)
		l.mu.Unlock()
	}, nil
}

// lockVolume serialises controller operations on one volume.
func (d *Driver) lockVolume(id string) (func(), error) {
	return d.locks.tryLock("volume/"+id, "volume "+id)
}

// lockNodeVolume serialises node operations on one volume. Its keys differ from the
// controller's so that a driver in "all" mode can stage a volume while the controller
// side works on it.
func (d *Driver) lockNodeVolume(id string) (func(), error) {
	return d.locks.tryLock("node/"+id, "volume "+id+" on this node")
}
