package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// podWithWaitingClaim is the chart's default path (WaitForFirstConsumer): nothing is
// made for the claim until a pod uses it; then the scheduler picks the node, the
// provisioner creates the volume in that node's zone, the scheduler binds the pod,
// and the controller manager's attach-detach controller (not the test) makes the
// VolumeAttachment that csi-attacher turns into a Cinder attachment. Deleting the
// pod, after kubelet's part reports the volume unused, detaches it. It returns the
// times from the pod's creation to the claim bound and to the volume attached.
func (e *env) podWithWaitingClaim(ctx context.Context, t *testing.T, pvcs *Watch) (bound, attached time.Duration) {
	t.Helper()
	must(t, e.k.Apply(ctx, claim("app-data", "e2e-wffc", "1Gi", "")))
	pods := e.watch(ctx, t, "/api/v1/namespaces/default/pods")
	vas := e.watch(ctx, t, "/apis/storage.k8s.io/v1/volumeattachments")
	must(t, e.k.Apply(ctx, pod("app", "app-data")))
	start, _, err := pods.When(ctx, time.Minute, "pod/app created", "app", Exists)
	must(t, err)
	boundAt, _, err := pvcs.When(ctx, 3*time.Minute, "pvc/app-data Bound", "app-data", phase("Bound"))
	must(t, err)
	bound = boundAt.Sub(start)
	c, err := e.k.Get(ctx, "pvc", "app-data")
	must(t, err)
	// Only the scheduler sets this, and only for a claim that waited for its pod.
	if n := Str(c, "metadata", "annotations", "volume.kubernetes.io/selected-node"); n != nodeName {
		t.Errorf("the claim's selected node is %q, want %s (the scheduler's choice)", n, nodeName)
	}
	pv, volumeID := e.pvOf(ctx, t, "app-data")
	if v := e.volume(ctx, t, volumeID); v.AvailabilityZone != "nova" {
		t.Errorf("volume %s is in zone %q, want nova (the zone of the node the pod was scheduled to)", volumeID, v.AvailabilityZone)
	}
	_, err = e.k.WaitFor(ctx, time.Minute, "pod/app bound to "+nodeName,
		func(o map[string]any) bool { return Str(o, "spec", "nodeName") == nodeName }, "pod", "app")
	must(t, err)

	attachedAt, o, err := vas.When(ctx, 3*time.Minute, "a VolumeAttachment of "+pv+" attached", "", func(o map[string]any) bool {
		return Str(o, "spec", "source", "persistentVolumeName") == pv && Str(o, "spec", "nodeName") == nodeName &&
			Field(o, "status", "attached") == true
	})
	must(t, err)
	va := Str(o, "metadata", "name")
	attached = attachedAt.Sub(start)

	payload := "written by the pod's volume at " + time.Now().Format(time.RFC3339Nano)
	e.playKubelet(ctx, t, va, volumeID, func(dir string) {
		must(t, os.WriteFile(filepath.Join(dir, "data"), []byte(payload), 0o600))
		got, err := os.ReadFile(filepath.Join(dir, "data"))
		if err != nil || string(got) != payload {
			t.Errorf("read back %q, %v; want %q", got, err, payload)
		}
	})
	// No kubelet confirms the pod's end: delete it at once, as a node's loss would.
	_, err = e.k.Run(ctx, "", "delete", "pod", "app", "--grace-period=0", "--force")
	must(t, err)
	must(t, e.k.WaitGone(ctx, 3*time.Minute, "volumeattachment", va))
	if v := e.volume(ctx, t, volumeID); v.Status != "available" || len(v.Attachments) > 0 {
		t.Errorf("after the pod and its VolumeAttachment are gone, Cinder shows volume %s %q with attachments %+v", volumeID, v.Status, v.Attachments)
	}
	_, err = e.k.Run(ctx, "", "delete", "pvc", "app-data", "--wait=false")
	must(t, err)
	must(t, e.k.WaitGone(ctx, 3*time.Minute, "pv", pv))
	return bound, attached
}
