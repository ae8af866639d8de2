package main

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"
)

// sample is one timed operation of one side.
type sample struct {
	took  time.Duration
	calls apiCalls
}

// recorder collects samples per operation and side.
type recorder struct {
	mu      sync.Mutex
	samples map[string]map[string][]sample // op -> side -> samples
	counted bool                           // calls are attributable (C=1)
}

func newRecorder(counted bool) *recorder {
	return &recorder{samples: map[string]map[string][]sample{}, counted: counted}
}

// timed runs f as operation op of side s and records it.
func (b *bed) timed(r *recorder, op string, s side, f func() error) error {
	before := b.proxy.snapshot()
	start := time.Now()
	err := f()
	took := time.Since(start)
	if err != nil {
		return fmt.Errorf("%s %s: %w", s.name(), op, err)
	}
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.samples[op] == nil {
		r.samples[op] = map[string][]sample{}
	}
	r.samples[op][s.name()] = append(r.samples[op][s.name()], sample{took: took, calls: callsBetween(before, b.proxy.snapshot())})
	return nil
}

// iteration walks one volume's life on side s, timing every step: create,
// snapshot, restore, expand (the restored volume: Cinder's NFS driver extends a
// volume that has snapshots without growing its active image, and then refuses
// to attach it), publish and unpublish on each attach path, deletes. What it made
// is unpublished and deleted even when a step fails, as a CO would.
func (b *bed) iteration(ctx context.Context, r *recorder, s side, worker int, name string) (err error) {
	var vol, snap, restored string
	defer func() {
		// Untimed clean-up of what a failed step left.
		cctx := context.WithoutCancel(ctx)
		if err != nil && vol != "" {
			for _, n := range b.nodes(worker) {
				err = joinErr(err, s.unpublish(cctx, vol, n))
			}
		}
		if restored != "" {
			err = joinErr(err, s.deleteVolume(cctx, restored))
		}
		if snap != "" {
			err = joinErr(err, s.deleteSnapshot(cctx, snap))
		}
		if vol != "" {
			err = joinErr(err, s.deleteVolume(cctx, vol))
		}
	}()
	var id string
	if err := b.timed(r, "CreateVolume", s, func() (e error) { id, e = s.createVolume(ctx, name, ""); return }); err != nil {
		return err
	}
	vol = id
	if err := b.timed(r, "CreateSnapshot", s, func() (e error) { id, e = s.createSnapshot(ctx, name, vol); return }); err != nil {
		return err
	}
	snap = id
	if err := b.timed(r, "CreateVolume-from-snapshot", s, func() (e error) { id, e = s.createVolume(ctx, name+"-r", snap); return }); err != nil {
		return err
	}
	restored = id
	if err := b.timed(r, "ControllerExpandVolume", s, func() error { return s.expand(ctx, restored, 2) }); err != nil {
		return err
	}
	for _, n := range b.nodes(worker) {
		path := "cinder"
		if n.nova {
			path = "nova"
		}
		if err := b.timed(r, "ControllerPublishVolume-"+path, s, func() error { return s.publish(ctx, vol, n) }); err != nil {
			return err
		}
		if err := b.timed(r, "ControllerUnpublishVolume-"+path, s, func() error { return s.unpublish(ctx, vol, n) }); err != nil {
			return err
		}
	}
	if err := b.timed(r, "DeleteVolume", s, func() error { return s.deleteVolume(ctx, restored) }); err != nil {
		return err
	}
	restored = ""
	if err := b.timed(r, "DeleteSnapshot", s, func() error { return s.deleteSnapshot(ctx, snap) }); err != nil {
		return err
	}
	snap = ""
	err = s.deleteVolume(ctx, vol)
	vol = ""
	return err
}

// novaPerServer is how many workers share a Nova server: each holds at most one
// attachment at a time, and Nova allows three besides the boot volume.
const novaPerServer = 3

// nodes are the targets a worker publishes to: the Cinder-path node, and its
// Nova server.
func (b *bed) nodes(worker int) []target {
	if b.o.nova {
		return []target{b.cinderNode, b.novaNodes[worker/novaPerServer]}
	}
	return []target{b.cinderNode}
}

func joinErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// figures runs n iterations per side at concurrency c, interleaved (the two
// sides alternate which goes first), and prints a line per operation.
func (b *bed) figures(ctx context.Context, n, c int, warmup bool) error {
	r := newRecorder(c == 1)
	if warmup {
		r = nil
	}
	sides := []side{b.ours, b.direct}
	work := make(chan int)
	errs := make(chan error, c)
	var wg sync.WaitGroup
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := range work {
				order := sides
				if i%2 == 1 {
					order = []side{sides[1], sides[0]}
				}
				for _, s := range order {
					if err := b.iteration(ctx, r, s, w, fmt.Sprintf("bench-%s-c%d-%03d", s.name(), c, i)); err != nil {
						errs <- err
						return
					}
				}
			}
		}(w)
	}
	var failed error
feed:
	for i := 0; i < n; i++ {
		select {
		case work <- i:
		case failed = <-errs:
			break feed
		}
	}
	close(work)
	wg.Wait()
	if failed == nil {
		select {
		case failed = <-errs:
		default:
		}
	}
	if failed != nil || r == nil {
		return failed
	}
	r.print(c)
	return nil
}

func (r *recorder) print(c int) {
	ops := make([]string, 0, len(r.samples))
	for op := range r.samples {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	for _, op := range ops {
		o, d := r.samples[op]["ours"], r.samples[op]["direct"]
		line := fmt.Sprintf("bench: op=%s c=%d n=%d ours_p50=%s ours_p90=%s direct_p50=%s direct_p90=%s ratio=%.2f",
			op, c, len(o), ms(quantile(o, 50)), ms(quantile(o, 90)), ms(quantile(d, 50)), ms(quantile(d, 90)),
			float64(quantile(o, 50))/float64(max(quantile(d, 50), 1)))
		if r.counted {
			line += fmt.Sprintf(" calls=%d gets=%d direct_calls=%d direct_gets=%d",
				medianCalls(o, false), medianCalls(o, true), medianCalls(d, false), medianCalls(d, true))
		}
		fmt.Println(line)
	}
}

func quantile(s []sample, p int) time.Duration {
	if len(s) == 0 {
		return 0
	}
	d := make([]time.Duration, len(s))
	for i := range s {
		d[i] = s[i].took
	}
	slices.Sort(d)
	return d[(len(d)*p+99)/100-1]
}

func medianCalls(s []sample, gets bool) int {
	if len(s) == 0 {
		return 0
	}
	v := make([]int, len(s))
	for i := range s {
		v[i] = s[i].calls.calls
		if gets {
			v[i] = s[i].calls.gets
		}
	}
	slices.Sort(v)
	return v[len(v)/2]
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%dms", d.Milliseconds())
}
