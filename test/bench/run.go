package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"github.com/gophercloud/gophercloud/v2/pagination"
)

func run(ctx context.Context, o benchOptions) (err error) {
	b, err := setUp(ctx, o)
	if b != nil {
		defer func() { err = errors.Join(err, b.tearDown(ctx, err != nil)) }()
	}
	if err != nil {
		return err
	}
	time.Sleep(time.Second)
	rss, _, err := b.ours.cinderPath.memory()
	if err != nil {
		return err
	}
	fmt.Printf("bench: figure=idle_rss rss_mib=%.1f\n", float64(rss)/1024)

	// Warm-up, not recorded: the tokens, the connections, and the first waits
	// from which the driver learns (three of each kind).
	if err := b.figures(ctx, 3, 1, true); err != nil {
		return err
	}
	for _, c := range o.conc {
		if err := b.figures(ctx, o.n, c, false); err != nil {
			return err
		}
	}
	if err := b.burst(ctx); err != nil {
		return err
	}
	for _, n := range o.scales {
		if err := b.scale(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

// burst creates o.burst volumes at once through the driver and reports its peak
// memory; they are deleted again.
func (b *bed) burst(ctx context.Context) error {
	var wg sync.WaitGroup
	ids := make([]string, b.o.burst)
	errs := make([]error, b.o.burst)
	start := time.Now()
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids[i], errs[i] = b.ours.createVolume(ctx, fmt.Sprintf("bench-burst-%03d", i), "")
		}()
	}
	wg.Wait()
	took := time.Since(start)
	rss, peak, merr := b.ours.cinderPath.memory()
	for _, id := range ids {
		if id != "" {
			errs = append(errs, b.ours.deleteVolume(ctx, id))
		}
	}
	if err := errors.Join(append(errs, merr)...); err != nil {
		return fmt.Errorf("burst of %d creates: %w", b.o.burst, err)
	}
	fmt.Printf("bench: figure=burst_rss creates=%d took=%s rss_mib=%.1f peak_rss_mib=%.1f\n",
		b.o.burst, ms(took), float64(rss)/1024, float64(peak)/1024)
	return nil
}

// scale grows the project to at least n volumes and measures, on a freshly
// started driver, the first publish (which reads the project once), a second one,
// and a full ListVolumes pass: time and API calls.
func (b *bed) scale(ctx context.Context, n int) error {
	have, err := b.projectVolumes(ctx)
	if err != nil {
		return err
	}
	if err := b.addFill(ctx, n-have); err != nil {
		return err
	}
	if have, err = b.projectVolumes(ctx); err != nil {
		return err
	}
	b.ours.cinderPath.stop()
	if b.ours.cinderPath, err = b.startDriver(ctx, "cinder"); err != nil {
		return err
	}
	var vols [2]string
	for i := range vols {
		if vols[i], err = b.direct.createVolume(ctx, fmt.Sprintf("bench-scale-%d-%d", n, i), ""); err != nil {
			return err
		}
	}
	defer func() {
		for _, v := range vols {
			_ = b.direct.deleteVolume(context.WithoutCancel(ctx), v)
		}
	}()
	r := newRecorder(true)
	for i, v := range vols {
		op := "publish-first"
		if i > 0 {
			op = "publish-next"
		}
		if err := b.timed(r, op, b.ours, func() error { return b.ours.publish(ctx, v, b.cinderNode) }); err != nil {
			return err
		}
	}
	for _, v := range vols {
		if err := b.ours.unpublish(ctx, v, b.cinderNode); err != nil {
			return err
		}
	}
	pages := 0
	if err := b.timed(r, "list", b.ours, func() error {
		token := ""
		for {
			resp, err := b.ours.cinderPath.ctrl.ListVolumes(ctx, &csi.ListVolumesRequest{StartingToken: token})
			if err != nil {
				return err
			}
			pages++
			if token = resp.GetNextToken(); token == "" {
				return nil
			}
		}
	}); err != nil {
		return err
	}
	for _, op := range []string{"publish-first", "publish-next", "list"} {
		s := r.samples[op]["ours"][0]
		fmt.Printf("bench: figure=scale volumes=%d op=%s took=%s calls=%d gets=%d\n", have, op, ms(s.took), s.calls.calls, s.calls.gets)
	}
	return nil
}

// projectVolumes counts the project's volumes (one listing, outside the figures).
func (b *bed) projectVolumes(ctx context.Context) (int, error) {
	n := 0
	err := volumes.List(b.direct.vc, volumes.ListOpts{}).EachPage(ctx, func(_ context.Context, p pagination.Page) (bool, error) {
		v, err := volumes.ExtractVolumes(p)
		n += len(v)
		return true, err
	})
	return n, err
}

// addFill creates k plain volumes, eight at a time.
func (b *bed) addFill(ctx context.Context, k int) error {
	return b.parallel(k, func(i int) error {
		id, err := b.direct.createVolume(ctx, fmt.Sprintf("bench-fill-%d-%04d", k, i), "")
		if id != "" {
			b.fillMu.Lock()
			b.fill = append(b.fill, id)
			b.fillMu.Unlock()
		}
		return err
	})
}

func (b *bed) dropFill(ctx context.Context) error {
	b.fillMu.Lock()
	ids := b.fill
	b.fill = nil
	b.fillMu.Unlock()
	return b.parallel(len(ids), func(i int) error { return b.direct.deleteVolume(ctx, ids[i]) })
}

func (b *bed) parallel(k int, f func(i int) error) error {
	var wg sync.WaitGroup
	work := make(chan int)
	var mu sync.Mutex
	var errs []error
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if err := f(i); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < k; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	return errors.Join(errs...)
}
