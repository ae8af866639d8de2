package cinder

import (
	"context"
	"errors"
	"testing"
)

// TestNovaStaleAttachments covers volumes left reserved, attaching, detaching or
// in-use by attachments Nova no longer stands behind, and the in-flight ones it does:
// no operator (reset-state) is needed in any of them.
func TestNovaStaleAttachments(t *testing.T) {
	tests := []struct {
		name string
		// setup leaves the volume in some state; it runs inside f.do.
		setup    func(f *fakeOpenStack, vol string)
		op       func(c *Client, vol string) error
		wantErr  error
		wantLeft int // attachments left on the volume in Cinder
	}{
		{
			name: "in-use by a deleted server: attach elsewhere deletes the leftover",
			setup: func(f *fakeOpenStack, vol string) {
				a := &fakeAttachment{id: "ghost", volumeID: vol, instance: "server-gone", hasConnection: true}
				f.attachments[a.id] = a
				f.markAttached(a)
			},
			op: func(c *Client, vol string) error {
				_, err := c.NovaAttacher().Attach(context.Background(), c.known(vol), Node{ID: "server-2"})
				return err
			},
			wantLeft: 1,
		},
		{
			name: "reserved for this server without Nova's mapping: the reservation is dropped",
			setup: func(f *fakeOpenStack, vol string) {
				f.attachments["stale"] = &fakeAttachment{id: "stale", volumeID: vol, instance: "server-1", status: "reserved"}
				f.volumes[vol]["status"] = StatusReserved
			},
			op: func(c *Client, vol string) error {
				_, err := c.NovaAttacher().Attach(context.Background(), c.known(vol), Node{ID: "server-1"})
				return err
			},
			wantLeft: 1,
		},
		{
			name: "attaching to this server with Nova's mapping: waited for, not asked twice",
			setup: func(f *fakeOpenStack, vol string) {
				a := &fakeAttachment{id: "inflight", volumeID: vol, instance: "server-1", status: "attaching", hasConnection: true, novaMapping: true}
				f.attachments[a.id] = a
				f.volumes[vol]["status"] = StatusAttaching
				f.later(vol, func(map[string]any) { f.markAttached(a) })
			},
			op: func(c *Client, vol string) error {
				_, err := c.NovaAttacher().Attach(context.Background(), c.known(vol), Node{ID: "server-1"})
				return err
			},
			wantLeft: 1,
		},
		{
			name: "in-use by a live server: attached elsewhere, nothing deleted",
			setup: func(f *fakeOpenStack, vol string) {
				a := &fakeAttachment{id: "live", volumeID: vol, instance: "server-1", hasConnection: true, novaMapping: true}
				f.attachments[a.id] = a
				f.markAttached(a)
			},
			op: func(c *Client, vol string) error {
				_, err := c.NovaAttacher().Attach(context.Background(), c.known(vol), Node{ID: "server-2"})
				return err
			},
			wantErr:  ErrAttachedElsewhere,
			wantLeft: 1,
		},
		{
			name: "detaching with no mapping left: detach finishes the job",
			setup: func(f *fakeOpenStack, vol string) {
				a := &fakeAttachment{id: "half", volumeID: vol, instance: "server-1", hasConnection: true}
				f.attachments[a.id] = a
				f.markAttached(a)
				f.volumes[vol]["status"] = StatusDetaching
			},
			op: func(c *Client, vol string) error {
				return c.NovaAttacher().Detach(context.Background(), vol, "server-1")
			},
			wantLeft: 0,
		},
		{
			name: "detaching with Nova's mapping (an earlier detach under way): Nova's refusal is waited out",
			setup: func(f *fakeOpenStack, vol string) {
				a := &fakeAttachment{id: "going", volumeID: vol, instance: "server-1", hasConnection: true, novaMapping: true}
				f.attachments[a.id] = a
				f.markAttached(a)
				f.volumes[vol]["status"] = StatusDetaching
				f.later(vol, func(map[string]any) { f.removeAttachment(a) })
			},
			op: func(c *Client, vol string) error {
				return c.NovaAttacher().Detach(context.Background(), vol, "server-1")
			},
			wantLeft: 0,
		},
		{
			name: "attaching to this server: Nova's refusal is returned, the attach is left alone",
			setup: func(f *fakeOpenStack, vol string) {
				a := &fakeAttachment{id: "coming", volumeID: vol, instance: "server-1", status: "attaching", hasConnection: true, novaMapping: true}
				f.attachments[a.id] = a
				f.volumes[vol]["status"] = StatusAttaching
			},
			op: func(c *Client, vol string) error {
				return c.NovaAttacher().Detach(context.Background(), vol, "server-1")
			},
			wantErr:  ErrInvalidState,
			wantLeft: 1,
		},
		{
			name: "in-use by a deleted server: detach from it frees the volume",
			setup: func(f *fakeOpenStack, vol string) {
				a := &fakeAttachment{id: "ghost", volumeID: vol, instance: "server-gone", hasConnection: true}
				f.attachments[a.id] = a
				f.markAttached(a)
			},
			op: func(c *Client, vol string) error {
				return c.NovaAttacher().Detach(context.Background(), vol, "server-gone")
			},
			wantLeft: 0,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, c, vol := attachFixture(t)
			f.do(func() { tc.setup(f, vol) })
			if err := tc.op(c, vol); !errors.Is(err, tc.wantErr) || (err != nil) != (tc.wantErr != nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			var left int
			f.do(func() { left = len(f.attachments) })
			if left != tc.wantLeft {
				t.Errorf("%d attachments left in Cinder, want %d", left, tc.wantLeft)
			}
		})
	}
}
