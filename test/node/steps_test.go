package node

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
	"github.com/cinder-csi/cinder-csi-driver/test/e2e"
)

// The steps the scenarios are made of, each checked where it shows.

// runPod creates the pod and waits until every container runs and is ready; it
// returns the time from the request to that.
func (e *env) runPod(ctx context.Context, t *testing.T, name string, s podSpec) time.Duration {
	t.Helper()
	start := time.Now()
	must(t, e.k.Apply(ctx, podYAML(name, s)))
	e.waitRunning(ctx, t, name)
	return time.Since(start)
}

func (e *env) waitRunning(ctx context.Context, t *testing.T, name string) {
	t.Helper()
	_, err := e.k.WaitFor(ctx, 4*time.Minute, "pod/"+name+" ready", podReady, "pod", name)
	if err != nil {
		out, _ := e.k.Run(ctx, "", "describe", "pod", name)
		t.Fatalf("%v\n%s", err, tail(out, 40))
	}
}

func firstContainerID(pod map[string]any) string {
	cs, _ := e2e.Field(pod, "status", "containerStatuses").([]any)
	if len(cs) == 0 {
		return ""
	}
	m, _ := cs[0].(map[string]any)
	id, _ := m["containerID"].(string)
	return id
}

// deletePod deletes the pod and waits until kubelet has confirmed it gone (which it
// does only after NodeUnpublishVolume succeeded).
func (e *env) deletePod(ctx context.Context, t *testing.T, name string) {
	t.Helper()
	_, err := e.k.Run(ctx, "", "delete", "pod", name, "--wait=true", "--timeout=3m")
	must(t, err)
}

// exec runs script in the pod's container and returns its output, trimmed.
func (e *env) exec(ctx context.Context, t *testing.T, pod, script string) string {
	t.Helper()
	out, err := e.k.Run(ctx, "", "exec", pod, "-c", "app", "--", "sh", "-c", script)
	if err != nil {
		t.Fatalf("in pod %s: %v", pod, err)
	}
	return strings.TrimSpace(out)
}

// execEventually is exec retried for up to a minute while kubelet does not know the
// pod yet ("pod does not exist", as right after kubelet's restart).
func (e *env) execEventually(ctx context.Context, t *testing.T, pod, script string) string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		out, err := e.k.Run(ctx, "", "exec", pod, "-c", "app", "--", "sh", "-c", script)
		if err == nil {
			return strings.TrimSpace(out)
		}
		if !strings.Contains(err.Error(), "does not exist") || time.Now().After(deadline) {
			t.Fatalf("in pod %s: %v", pod, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// claimVolume returns the claim's PV and the Cinder volume behind it.
func (e *env) claimVolume(ctx context.Context, t *testing.T, claim string) (pv, volumeID string) {
	t.Helper()
	c, err := e.k.Get(ctx, "pvc", claim)
	must(t, err)
	pv = e2e.Str(c, "spec", "volumeName")
	p, err := e.k.Get(ctx, "pv", pv)
	must(t, err)
	return pv, e2e.Str(p, "spec", "csi", "volumeHandle")
}

func (e *env) volume(ctx context.Context, t *testing.T, id string) *cinder.Volume {
	t.Helper()
	v, err := e.cloud.GetVolume(ctx, id)
	must(t, err)
	return v
}

// checkInUse: Cinder shows the volume attached to this node, the host shows
// kubelet's publish mount of the PV and the staging mount of a loop device.
func (e *env) checkInUse(ctx context.Context, t *testing.T, volumeID, pv string) {
	t.Helper()
	e.checkAttachedInCinder(ctx, t, volumeID)
	if m := mountsOf(t, "/volumes/kubernetes.io~csi/"+pv+"/mount"); len(m) != 1 || !strings.HasPrefix(m[0], "/dev/loop") {
		t.Errorf("host mounts of %s's publish path: %q; want one of a loop device", pv, m)
	}
	if m := mountsOf(t, "/plugins/kubernetes.io/csi/"+driverName+"/"); len(m) == 0 {
		t.Errorf("no staging mount under kubelet's plugin directory")
	}
}

func (e *env) checkAttachedInCinder(ctx context.Context, t *testing.T, volumeID string) {
	t.Helper()
	if v := e.volume(ctx, t, volumeID); v.Status != "in-use" || !v.AttachedTo(nodeName) {
		t.Errorf("Cinder shows volume %s %q with attachments %+v; want in-use on %s", volumeID, v.Status, v.Attachments, nodeName)
	}
}

// waitDetached waits until the PV has no VolumeAttachment, Cinder shows the
// volume available without attachments, and the host has no mount of it.
func (e *env) waitDetached(ctx context.Context, t *testing.T, pv, volumeID string) {
	t.Helper()
	_, err := e.k.WaitFor(ctx, 3*time.Minute, "no VolumeAttachment of "+pv, func(list map[string]any) bool {
		items, _ := list["items"].([]any)
		for _, it := range items {
			if e2e.Str(it.(map[string]any), "spec", "source", "persistentVolumeName") == pv {
				return false
			}
		}
		return true
	}, "volumeattachment")
	must(t, err)
	if v := e.volume(ctx, t, volumeID); v.Status != "available" || len(v.Attachments) > 0 {
		t.Errorf("after its VolumeAttachment is gone Cinder shows volume %s %q with attachments %+v", volumeID, v.Status, v.Attachments)
	}
	if m := mountsOf(t, pv); len(m) > 0 {
		t.Errorf("the host still mounts %s: %q", pv, m)
	}
	if out, _ := exec.Command("losetup", "--list", "--noheadings", "--output", "BACK-FILE").Output(); strings.Contains(string(out), volumeID) {
		t.Errorf("a loop device still backs volume %s: %s", volumeID, out)
	}
}
