package driver

import (
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
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
		return nil, status.Errorf(codes.Aborted, "an operation on %s is already in progress; retry later", what)
	}
	l.busy[key] = struct{}{}
	return func() {
		l.mu.Lock()
		delete(l.busy, key)
		l.mu.Unlock()
	}, nil
}
