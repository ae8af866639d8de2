package inventory

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"
)

// script is a Lister that shows each of its inventories in turn, then the last.
func script(steps ...map[string]string) Lister {
	i := 0
	return func(_ context.Context, out map[string]string) error {
		for k, v := range steps[min(i, len(steps)-1)] {
			out[k] = v
		}
		i++
		return nil
	}
}

func TestSettle(t *testing.T) {
	before := map[string]string{"volume v1": "kept", "server s1": "node"}
	tests := []struct {
		name    string
		listers []Lister
		want    []string
	}{
		{
			name:    "unchanged",
			listers: []Lister{script(before)},
		},
		{
			name: "a delete finishes within the wait",
			listers: []Lister{script(
				map[string]string{"volume v1": "kept", "server s1": "node", "volume v2": "deleting"},
				map[string]string{"volume v1": "kept", "server s1": "node", "volume v2": "deleting"},
				before,
			)},
		},
		{
			name: "new things of every lister are left",
			listers: []Lister{
				script(map[string]string{"volume v1": "kept", "snapshot n1": "snap", "attachment a1": "v1"}),
				script(map[string]string{"server s1": "node", "server s2": "other"}),
			},
			want: []string{"attachment a1 (v1)", "server s2 (other)", "snapshot n1 (snap)"},
		},
		{
			name:    "something of before went missing",
			listers: []Lister{script(map[string]string{"server s1": "node"})},
			want:    []string{"gone: volume v1 (kept)"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Settle(context.Background(), before, time.Second, tc.listers...)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Settle: %q, want %q", got, tc.want)
			}
		})
	}
}

func TestTakeStopsAtAListerError(t *testing.T) {
	broken := errors.New("Nova down")
	_, err := Take(context.Background(), script(map[string]string{"volume v1": "x"}),
		func(context.Context, map[string]string) error { return broken })
	if !errors.Is(err, broken) {
		t.Errorf("Take: %v, want %v", err, broken)
	}
}
