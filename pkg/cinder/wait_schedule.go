package cinder

import "time"

// waitSchedule says when a wait checks the cloud. It is pure: the offsets depend
// only on its fields, so the table tests pin every case.
type waitSchedule struct {
	// initial and max bound the growing pause of the fixed schedule (cold start,
	// and once the learned checks are spent).
	initial, max time.Duration
	// floor is the shortest pause between two checks, whatever history says.
	floor time.Duration
	// afterRequest: the wait starts right after the request that began the change,
	// so an immediate check would only see the state the request left.
	afterRequest bool
	// learned holds when this kind of operation lately ended, counted from the end
	// of its request, as quantiles in increasing order (p30, p50, p70, p90); empty on a
	// cold start. Only a wait right after a request uses it: a plain wait does not
	// know when its change began.
	learned []time.Duration
}

// offsets returns a function giving the offset from the start of the wait of each
// successive check.
//
// Cold (nothing learned), it is the fixed schedule: a plain wait checks at once
// and then after initial, growing by half up to max; right after a request the
// first checks come at half steps (0.5, 1, 1.75, 2.9, 4.6 s with initial 1 s).
//
// Warm, the first checks come when the operation has lately been seen to end: at
// its p30, p50, p70 and p90, so that most waits end by the third check, close to
// when the operation did. After them the pause starts at a quarter of p90 and grows
// by half up to max: an operation slower than its history (eight at once where one
// at a time was learned) is still seen soon after it ends, in a few more checks,
// and one much slower soon reaches the cold pace. No two checks come closer than
// floor.
func (s waitSchedule) offsets() func() time.Duration {
	var planned []time.Duration
	var pause time.Duration
	switch {
	case !s.afterRequest:
		planned, pause = []time.Duration{0}, s.initial
	case len(s.learned) == 0:
		planned, pause = []time.Duration{s.initial / 2}, s.initial/2
	default:
		planned = s.learned
		pause = s.learned[len(s.learned)-1] / 4
	}
	pause = min(max(pause, s.floor), s.max)
	i, prev := 0, time.Duration(-1)
	return func() time.Duration {
		var at time.Duration
		if i < len(planned) {
			at = planned[i]
			i++
		} else {
			at = prev + pause
			pause = min(pause*3/2, s.max)
		}
		if prev >= 0 && at < prev+s.floor {
			at = prev + s.floor
		}
		at = max(at, 0)
		prev = at
		return at
	}
}
