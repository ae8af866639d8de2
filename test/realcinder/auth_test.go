package realcinder

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
)

// TestAuth creates and deletes a volume through each way of authenticating: Keystone
// password, application credential, and noauth against a standalone Cinder API.
func TestAuth(t *testing.T) {
	requireTestBed(t)
	for _, cloud := range []string{"local", "local-appcred", "local-noauth"} {
		t.Run(cloud, func(t *testing.T) {
			c := client(t, cloud)
			check := leakCheck(t, c)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			name := fmt.Sprintf("auth-%s-%d", cloud, time.Now().UnixNano()%1_000_000)
			v, err := c.CreateVolume(ctx, cinder.CreateVolumeOpts{Name: name, SizeGiB: 1, VolumeType: "fast"})
			if err != nil {
				t.Fatalf("CreateVolume through %s: %v", cloud, err)
			}
			if v.VolumeType != "fast" || v.Status != cinder.StatusAvailable {
				t.Errorf("volume %+v: want an available volume of type fast", v)
			}
			if err := c.DeleteVolume(ctx, v.ID); err != nil {
				t.Fatalf("DeleteVolume: %v", err)
			}
			check()
		})
	}
}
