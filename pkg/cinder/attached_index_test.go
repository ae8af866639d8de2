package cinder

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestAttachedIndex(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1000, 0)
	cloud := map[string]map[string]bool{"n1": {"v1": true, "v2": true}, "n2": {"v3": true}}
	lists := 0
	var during func()
	x := &attachedIndex{now: func() time.Time { return now }, list: func(context.Context) (map[string]map[string]bool, error) {
		lists++
		if during != nil {
			during()
		}
		out := map[string]map[string]bool{}
		for n, ids := range cloud {
			out[n] = map[string]bool{}
			for id := range ids {
				out[n][id] = true
			}
		}
		return out, nil
	}}
	steps := []struct {
		name      string
		do        func()
		node      string
		fresh     bool
		want      []string
		wantLists int
	}{
		{"first answer reads the project", nil, "n1", false, []string{"v1", "v2"}, 1},
		{"every node comes from that one listing", nil, "n2", false, []string{"v3"}, 1},
		{"own attach is known without a listing", func() { x.record("n2", "v4", true) }, "n2", false, []string{"v3", "v4"}, 1},
		{"own detach too", func() { x.record("n1", "v1", false) }, "n1", false, []string{"v2"}, 1},
		{"an attach by someone else is not seen while current", func() { cloud["n1"]["v9"] = true }, "n1", false, []string{"v2"}, 1},
		{"fresh reads the project", nil, "n1", true, []string{"v1", "v2", "v9"}, 2},
		{"a listing past its age is read again", func() { delete(cloud["n1"], "v1"); now = now.Add(attachedIndexMaxAge + time.Second) }, "n1", false, []string{"v2", "v9"}, 3},
		{"a change during a listing survives it", func() {
			during = func() { x.record("n3", "v5", true); during = nil }
		}, "n3", true, []string{"v5"}, 4},
		{"an unknown node has none", nil, "n7", false, []string{}, 4},
	}
	for _, s := range steps {
		if s.do != nil {
			s.do()
		}
		got, err := x.volumes(ctx, s.node, s.fresh)
		if err != nil || !slices.Equal(got, s.want) || lists != s.wantLists {
			t.Fatalf("%s: volumes(%s) = %v, %v after %d listings; want %v after %d", s.name, s.node, got, err, lists, s.want, s.wantLists)
		}
	}
}

// Callers that find the index stale together share one listing.
func TestAttachedIndexSharesListings(t *testing.T) {
	var mu sync.Mutex
	lists := 0
	x := &attachedIndex{now: time.Now, list: func(context.Context) (map[string]map[string]bool, error) {
		mu.Lock()
		lists++
		mu.Unlock()
		time.Sleep(20 * time.Millisecond)
		return map[string]map[string]bool{"n": {"v": true}}, nil
	}}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ids, err := x.volumes(context.Background(), "n", false); err != nil || len(ids) != 1 {
				t.Errorf("volumes = %v, %v", ids, err)
			}
		}()
	}
	wg.Wait()
	if lists != 1 {
		t.Errorf("%d listings for 8 concurrent callers, want 1", lists)
	}
}
