package cinder

import (
	"slices"
	"sync"
	"time"
)

// Bounds of what waitHistory keeps: recent durations per kind, and few kinds
// (operations times volume types); a kind past the cap is not learned.
const (
	historyWindow     = 16
	historyMinSamples = 3
	historyMaxKinds   = 64
)

// waitHistory learns how long each kind of operation takes here, from the waits
// themselves, so that the next wait of that kind checks when the operation is
// likely done (waitSchedule.learned). It is safe for concurrent use.
//
// A wait sees the end of an operation only at a check, so what it learns is an
// interval: the operation ended after the last check that saw it unfinished (lo)
// and before the one that saw it done (hi). The sample is the middle of it. When
// the first check already saw it done there is no lower bound, and the sample is
// 2/3 of hi: the schedule then tries a little earlier next time, until a first
// check comes too early, so the estimate cannot stay stuck above the real time.
type waitHistory struct {
	mu    sync.Mutex
	kinds map[string]*durations
}

type durations struct {
	ring [historyWindow]time.Duration
	n    int // samples ever recorded; the ring holds the last min(n, window)
}

func newWaitHistory() *waitHistory { return &waitHistory{kinds: map[string]*durations{}} }

// observe records a wait of kind that ended well: lo is the offset of the last
// check that saw the operation unfinished (negative if none did), hi that of the
// check that saw it done.
func (h *waitHistory) observe(kind string, lo, hi time.Duration) {
	sample := hi * 2 / 3
	if lo >= 0 {
		sample = lo + (hi-lo)/2
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	d := h.kinds[kind]
	if d == nil {
		if len(h.kinds) >= historyMaxKinds {
			return
		}
		d = &durations{}
		h.kinds[kind] = d
	}
	d.ring[d.n%historyWindow] = sample
	d.n++
}

// quantiles returns p30, p50, p70 and p90 of kind's recent samples, nil while it has
// fewer than historyMinSamples.
func (h *waitHistory) quantiles(kind string) []time.Duration {
	h.mu.Lock()
	d := h.kinds[kind]
	if d == nil || d.n < historyMinSamples {
		h.mu.Unlock()
		return nil
	}
	s := slices.Clone(d.ring[:min(d.n, historyWindow)])
	h.mu.Unlock()
	slices.Sort(s)
	// Nearest rank: the smallest sample with at least p% of them at or below it.
	q := func(p int) time.Duration { return s[(len(s)*p+99)/100-1] }
	return []time.Duration{q(30), q(50), q(70), q(90)}
}
