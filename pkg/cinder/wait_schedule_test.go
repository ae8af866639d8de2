package cinder

import (
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

const ms = time.Millisecond

func firstOffsets(s waitSchedule, n int) []time.Duration {
	next := s.offsets()
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = next()
	}
	return out
}

func TestWaitScheduleOffsets(t *testing.T) {
	base := waitSchedule{initial: time.Second, max: 5 * time.Second, floor: 50 * ms}
	after := base
	after.afterRequest = true
	tests := []struct {
		name string
		s    waitSchedule
		want []time.Duration
	}{
		{"plain wait checks at once, then grows by half", base,
			[]time.Duration{0, 1000 * ms, 2500 * ms, 4750 * ms, 8125 * ms, 13125 * ms, 18125 * ms}},
		{"cold, after a request: half steps (today's schedule)", after,
			[]time.Duration{500 * ms, 1000 * ms, 1750 * ms, 2875 * ms, 4562500 * time.Microsecond}},
		{"learned: p30, p50, p70, p90, then a quarter of p90 growing by half", with(after, 150*ms, 200*ms, 260*ms, 320*ms),
			[]time.Duration{150 * ms, 200 * ms, 260 * ms, 320 * ms, 400 * ms, 520 * ms, 700 * ms}},
		{"slower than its history (8 at once after single ones): soon after, not at the cold pace", with(after, 190*ms, 200*ms, 205*ms, 210*ms),
			[]time.Duration{190 * ms, 240 * ms, 290 * ms, 340 * ms, 392500 * time.Microsecond, 471250 * time.Microsecond, 589375 * time.Microsecond}},
		{"learned quantiles closer than the floor are spread out", with(after, 100*ms, 105*ms, 110*ms, 120*ms),
			[]time.Duration{100 * ms, 150 * ms, 200 * ms, 250 * ms, 300 * ms}},
		{"a slow operation is checked at its quantiles, then no faster than they spread", with(after, 35*time.Second, 40*time.Second, 50*time.Second, 60*time.Second),
			[]time.Duration{35 * time.Second, 40 * time.Second, 50 * time.Second, 60 * time.Second, 65 * time.Second, 70 * time.Second}},
		{"a plain wait ignores history", with(base, 200*ms, 230*ms, 300*ms),
			[]time.Duration{0, 1000 * ms, 2500 * ms}},
		{"zero quantile still respects the floor", with(after, 0, 0, 0, 0),
			[]time.Duration{0, 50 * ms, 100 * ms, 150 * ms, 200 * ms}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := firstOffsets(tt.s, len(tt.want)); !slices.Equal(got, tt.want) {
				t.Errorf("offsets = %v, want %v", got, tt.want)
			}
		})
	}
}

func with(s waitSchedule, q ...time.Duration) waitSchedule {
	s.learned = q
	return s
}

func TestWaitHistoryQuantiles(t *testing.T) {
	h := newWaitHistory()
	if q := h.quantiles("k"); q != nil {
		t.Fatalf("cold: %v", q)
	}
	h.observe("k", 100*ms, 200*ms) // 150
	h.observe("k", -1, 600*ms)     // first check saw it: 2/3 of 600
	if q := h.quantiles("k"); q != nil {
		t.Fatalf("two samples are not enough: %v", q)
	}
	h.observe("k", 200*ms, 300*ms) // 250
	if got, want := h.quantiles("k"), []time.Duration{150 * ms, 250 * ms, 400 * ms, 400 * ms}; !slices.Equal(got, want) {
		t.Errorf("quantiles = %v, want %v", got, want)
	}
	if q := h.quantiles("other"); q != nil {
		t.Errorf("kinds are apart: %v", q)
	}
	// The window keeps the last samples only.
	for range historyWindow {
		h.observe("k", 900*ms, 1100*ms)
	}
	if got := h.quantiles("k"); got[0] != time.Second || got[3] != time.Second {
		t.Errorf("after a full window of 1 s: %v", got)
	}
	// Kinds are capped.
	for i := range historyMaxKinds + 5 {
		h.observe(string(rune('a'+i)), -1, ms)
	}
	if len(h.kinds) != historyMaxKinds {
		t.Errorf("%d kinds kept, want the cap %d", len(h.kinds), historyMaxKinds)
	}
}

// TestLearnedWaitsConverge runs the schedule and the history together on operations
// of a known duration, in virtual time: once warm, the median wait must need at
// most 3 checks and end within 15% of when a client polling every 50 ms would see
// the end (make bench's direct baseline), whatever its scale, and never need more
// than one check more than the cold schedule.
func TestLearnedWaitsConverge(t *testing.T) {
	tests := []struct {
		name   string
		typ    time.Duration
		jitter float64 // relative spread of the durations
	}{
		{"quick and steady (Cinder create on LVM)", 200 * ms, 0.05},
		{"quick, spread", 200 * ms, 0.3},
		{"Nova attach", 700 * ms, 0.2},
		{"slow (image-backed create)", 40 * time.Second, 0.2},
		{"very quick (a detach already done)", 20 * ms, 0.1},
		{"quick, many at once (8 deletes queued on one backend)", 600 * ms, 0.6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			h := newWaitHistory()
			s := waitSchedule{initial: time.Second, max: 5 * time.Second, floor: 50 * ms, afterRequest: true}
			var checks, ratios, coldChecks []float64
			for i := range 60 {
				d := time.Duration(float64(tt.typ) * (1 + tt.jitter*(2*r.Float64()-1)))
				s.learned = h.quantiles("op")
				n, lo, hi := runWait(s, d)
				h.observe("op", lo, hi)
				cold := s
				cold.learned = nil
				cn, _, _ := runWait(cold, d)
				if i >= 20 {
					direct := (d + 50*ms - 1) / (50 * ms) * (50 * ms)
					checks = append(checks, float64(n))
					coldChecks = append(coldChecks, float64(cn))
					ratios = append(ratios, float64(hi)/float64(direct))
				}
			}
			mc, mr := median(checks), median(ratios)
			t.Logf("median checks %.0f (cold %.0f), median ratio to a 50 ms poller %.2f", mc, median(coldChecks), mr)
			if mc > 3 {
				t.Errorf("median checks %.0f > 3", mc)
			}
			if mr > 1.15 {
				t.Errorf("median ratio to a 50 ms poller %.2f > 1.15", mr)
			}
			if mc > median(coldChecks)+1 {
				t.Errorf("learned schedule needs %.0f checks, cold %.0f", mc, median(coldChecks))
			}
		})
	}
}

// runWait checks on s's schedule an operation that ends at d: the number of checks,
// the offset of the last unfinished one (-1 if none) and of the one that saw it done.
func runWait(s waitSchedule, d time.Duration) (n int, lo, hi time.Duration) {
	next := s.offsets()
	lo = -1
	for {
		at := next()
		n++
		if at >= d {
			return n, lo, at
		}
		lo = at
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// TestPollLearnsAndBacksOff drives the real poll loop with short pauses: a wait
// that ends teaches the history its kind, a plain wait teaches nothing, and
// transient failures push the later checks back.
func TestPollLearnsAndBacksOff(t *testing.T) {
	c := &Client{pollInitial: 4 * ms, pollMax: 40 * ms, pollFloor: ms, history: newWaitHistory()}
	doneAfter := func(n int, transient bool) pollFunc {
		calls := 0
		return func(context.Context) (bool, string, error) {
			calls++
			if calls >= n {
				return true, "", nil
			}
			if transient {
				return false, "", ErrUnavailable
			}
			return false, "creating", nil
		}
	}
	ctx := context.Background()
	for range historyMinSamples {
		if err := c.waitAfterRequest(ctx, "k", "thing", doneAfter(2, false)); err != nil {
			t.Fatal(err)
		}
	}
	if c.history.quantiles("k") == nil {
		t.Errorf("finished waits taught nothing")
	}
	if err := c.waitFor(ctx, "plain", "thing", doneAfter(1, false)); err != nil {
		t.Fatal(err)
	}
	if len(c.history.kinds) != 1 {
		t.Errorf("a plain wait was learned: %v", c.history.kinds)
	}

	// Three transient failures: each doubles the delay added to the schedule.
	cold := &Client{pollInitial: 4 * ms, pollMax: 40 * ms, pollFloor: ms}
	start := time.Now()
	if err := cold.waitAfterRequest(ctx, "k", "thing", doneAfter(4, true)); err != nil {
		t.Fatal(err)
	}
	// Schedule 2, 4, 7, 11.5 ms plus delays 2, 4, 8 ms: the last check at >= 19.5 ms.
	if el := time.Since(start); el < 19*ms {
		t.Errorf("transient failures did not back off: done after %v", el)
	}

	// A deadline says what was seen last and is not learned.
	dctx, cancel := context.WithTimeout(ctx, 10*ms)
	defer cancel()
	err := c.waitAfterRequest(dctx, "slow", "thing", doneAfter(1000, false))
	if err == nil || !strings.Contains(err.Error(), "last seen creating") {
		t.Errorf("deadline error = %v", err)
	}
	if c.history.kinds["slow"] != nil {
		t.Errorf("a wait that hit its deadline was learned")
	}
}
