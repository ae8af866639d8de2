package node

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
	"github.com/cinder-csi/cinder-csi-driver/test/e2e"
	"github.com/cinder-csi/cinder-csi-driver/test/internal/testbed"
)

// TestRealNode installs the chart on a real node and runs what an operator's
// workloads do, each step checked in Kubernetes, in Cinder and on the host.
func TestRealNode(t *testing.T) {
	e := setUp(t)
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	y, err := testbed.NewYardstick(ctx, "local")
	must(t, err)
	e.yard = y

	// Alone first, so that its timing is not shared with other work.
	payload := "written by pod writer at " + time.Now().Format(time.RFC3339Nano)
	t.Run("pod writes, a second pod reads", func(t *testing.T) { e.writeThenRead(ctx, t, payload) })
	t.Run("workloads", func(t *testing.T) {
		t.Run("snapshot restore and clone", func(t *testing.T) { t.Parallel(); e.restoreAndClone(ctx, t, payload) })
		t.Run("fsGroup and offline expansion", func(t *testing.T) { t.Parallel(); e.fsGroupAndExpand(ctx, t) })
		t.Run("raw block", func(t *testing.T) { t.Parallel(); e.rawBlock(ctx, t) })
		t.Run("statefulset", func(t *testing.T) { t.Parallel(); e.statefulSet(ctx, t) })
		t.Run("inline ephemeral", func(t *testing.T) { t.Parallel(); e.inline(ctx, t) })
		t.Run("kubelet refreshes the attach count", func(t *testing.T) { t.Parallel(); e.allocatableRefreshed(ctx, t) })
	})
	t.Run("node plugin and kubelet restarts", func(t *testing.T) { e.restarts(ctx, t) })
}

// writeThenRead: a pod writes to a fresh claim; it is deleted and the volume
// detaches; a second pod reads the data back.
func (e *env) writeThenRead(ctx context.Context, t *testing.T, payload string) {
	must(t, e.k.Apply(ctx, claimYAML("data", "1Gi", "Filesystem", "")))
	running := e.runPod(ctx, t, "writer", podSpec{claims: []string{"data"}})
	create, err := e.yard.Create(ctx)
	must(t, err)
	attach, err := e.yard.Attach(ctx)
	must(t, err)
	e.timings = append(e.timings, fmt.Sprintf("node-timing: %-36s %8v   %-40s %8v   ratio %.2f",
		"pod created -> Running (fresh PVC)", running.Round(time.Millisecond), "Cinder create + attachment", (create+attach).Round(time.Millisecond),
		float64(running)/float64(create+attach)))
	pv, vol := e.claimVolume(ctx, t, "data")
	e.checkInUse(ctx, t, vol, pv)
	e.exec(ctx, t, "writer", fmt.Sprintf("printf %%s %q > /data/file && sync", payload))
	start := time.Now()
	e.deletePod(ctx, t, "writer")
	e.waitDetached(ctx, t, pv, vol)
	e.timings = append(e.timings, fmt.Sprintf("node-timing: %-36s %8v", "pod deleted -> volume detached", time.Since(start).Round(time.Millisecond)))
	e.runPod(ctx, t, "reader", podSpec{claims: []string{"data"}})
	if got := e.exec(ctx, t, "reader", "cat /data/file"); got != payload {
		t.Errorf("the second pod reads %q, want %q", got, payload)
	}
	e.deletePod(ctx, t, "reader")
	e.waitDetached(ctx, t, pv, vol)
}

// restoreAndClone: a snapshot of the (detached) claim, a claim restored from it
// and a clone of the restored claim, both read by one pod. The clone's source is the
// restored claim, not the snapshotted one: Cinder's NFS driver keeps a snapshotted
// volume as a qcow2 chain and refuses to clone it (qemu_img_info rejects the backing
// file: "Unacceptable parameters"), which the driver reports as the volume's error.
func (e *env) restoreAndClone(ctx context.Context, t *testing.T, payload string) {
	must(t, e.k.Apply(ctx, snapshotYAML("data-snap", "data")))
	_, err := e.k.WaitFor(ctx, 3*time.Minute, "volumesnapshot/data-snap ready",
		func(o map[string]any) bool { return e2e.Field(o, "status", "readyToUse") == true }, "volumesnapshot", "data-snap")
	must(t, err)
	must(t, e.k.Apply(ctx, claimYAML("restored", "1Gi", "Filesystem", fromSnapshot("data-snap"))+"---"+
		claimYAML("cloned", "1Gi", "Filesystem", fromClaim("restored"))))
	e.runPod(ctx, t, "restore-reader", podSpec{claims: []string{"restored", "cloned"}})
	for _, c := range []string{"restored", "cloned"} {
		if got := e.exec(ctx, t, "restore-reader", "cat /data/"+c+"/file"); got != payload {
			t.Errorf("the %s claim holds %q, want %q", c, got, payload)
		}
	}
	_, restoredVol := e.claimVolume(ctx, t, "restored")
	_, clonedVol := e.claimVolume(ctx, t, "cloned")
	if v := e.volume(ctx, t, restoredVol); v.SnapshotID == "" {
		t.Errorf("restored volume %s has no snapshot_id", restoredVol)
	}
	if v := e.volume(ctx, t, clonedVol); v.SourceVolID != restoredVol {
		t.Errorf("cloned volume %s has source_volid %q, want %s", clonedVol, v.SourceVolID, restoredVol)
	}
	e.deletePod(ctx, t, "restore-reader")
}

// fsGroupAndExpand: a non-root pod with an fsGroup writes; the claim is expanded
// while no pod uses it (the test bed's NFS backend cannot extend attached volumes:
// expandInUse=false); the next pod sees the larger filesystem and the file.
func (e *env) fsGroupAndExpand(ctx context.Context, t *testing.T) {
	must(t, e.k.Apply(ctx, claimYAML("grow", "1Gi", "Filesystem", "")))
	sec := "{runAsUser: 1000, runAsGroup: 3000, fsGroup: 2000}"
	e.runPod(ctx, t, "grow-1", podSpec{claims: []string{"grow"}, security: sec})
	if got := e.exec(ctx, t, "grow-1", "echo hello > /data/by-user && stat -c '%u %g' /data/by-user && id -u"); got != "1000 2000\n1000" {
		t.Errorf("a file written by the fsGroup pod: owner and group %q, want \"1000 2000\\n1000\"", got)
	}
	pv, vol := e.claimVolume(ctx, t, "grow")
	e.deletePod(ctx, t, "grow-1")
	e.waitDetached(ctx, t, pv, vol)
	_, err := e.k.Run(ctx, "", "patch", "pvc", "grow", "-p", `{"spec":{"resources":{"requests":{"storage":"2Gi"}}}}`)
	must(t, err)
	_, err = e.k.WaitFor(ctx, 3*time.Minute, "pv capacity 2Gi", func(o map[string]any) bool { return e2e.Str(o, "spec", "capacity", "storage") == "2Gi" }, "pv", pv)
	must(t, err)
	if v := e.volume(ctx, t, vol); v.SizeGiB != 2 {
		t.Errorf("Cinder volume %s is %d GiB after the expansion, want 2", vol, v.SizeGiB)
	}
	e.runPod(ctx, t, "grow-2", podSpec{claims: []string{"grow"}, security: sec})
	_, err = e.k.WaitFor(ctx, 2*time.Minute, "pvc/grow status capacity 2Gi", func(o map[string]any) bool {
		return e2e.Str(o, "status", "capacity", "storage") == "2Gi"
	}, "pvc", "grow")
	must(t, err)
	df := strings.Fields(e.exec(ctx, t, "grow-2", "df -k /data | tail -1"))
	if len(df) < 2 {
		t.Fatalf("df in the pod: %q", df)
	}
	if kb, _ := strconv.Atoi(df[1]); kb < 1800*1024 {
		t.Errorf("df in the pod shows %d KiB after the expansion to 2 GiB", kb)
	}
	if got := e.exec(ctx, t, "grow-2", "cat /data/by-user"); got != "hello" {
		t.Errorf("after the expansion the file holds %q, want hello", got)
	}
	e.deletePod(ctx, t, "grow-2")
}

// rawBlock: a Block claim as /dev/xvda in a pod: bytes written at an offset read back.
func (e *env) rawBlock(ctx context.Context, t *testing.T) {
	must(t, e.k.Apply(ctx, claimYAML("raw", "1Gi", "Block", "")))
	e.runPod(ctx, t, "raw-user", podSpec{block: "raw"})
	pv, vol := e.claimVolume(ctx, t, "raw")
	e.checkAttachedInCinder(ctx, t, vol)
	const word = "raw-block-payload"
	got := e.exec(ctx, t, "raw-user", fmt.Sprintf(
		"printf %s | dd of=/dev/xvda bs=4096 seek=100 conv=fsync 2>/dev/null && dd if=/dev/xvda bs=4096 skip=100 count=1 2>/dev/null | head -c %d && echo && blockdev --getsize64 /dev/xvda",
		word, len(word)))
	if got != word+"\n1073741824" {
		t.Errorf("the raw device reads back %q, want the payload and 1073741824 bytes", got)
	}
	e.deletePod(ctx, t, "raw-user")
	e.waitDetached(ctx, t, pv, vol)
}

// statefulSet: two replicas with their own claims; each one's data survives its
// pod being deleted and recreated.
func (e *env) statefulSet(ctx context.Context, t *testing.T) {
	must(t, e.k.Apply(ctx, statefulSetYAML("db", 2)))
	e.waitPodsReady(ctx, t, "default", "app=db", 2)
	uids := map[string]string{}
	for _, p := range []string{"db-0", "db-1"} {
		e.exec(ctx, t, p, "hostname > /data/id && sync")
		o, err := e.k.Get(ctx, "pod", p)
		must(t, err)
		uids[p] = e2e.Str(o, "metadata", "uid")
	}
	_, err := e.k.Run(ctx, "", "delete", "pod", "db-0", "db-1", "--wait=true")
	must(t, err)
	e.waitPodsReady(ctx, t, "default", "app=db", 2)
	for _, p := range []string{"db-0", "db-1"} {
		o, err := e.k.Get(ctx, "pod", p)
		must(t, err)
		if e2e.Str(o, "metadata", "uid") == uids[p] {
			t.Errorf("pod %s was not recreated", p)
		}
		if got := e.exec(ctx, t, p, "cat /data/id"); got != p {
			t.Errorf("after its restart %s reads %q from its claim, want %q", p, got, p)
		}
	}
	_, err = e.k.Run(ctx, "", "delete", "statefulset", "db", "--wait=true")
	must(t, err)
	for _, p := range []string{"db-0", "db-1"} {
		must(t, e.k.WaitGone(ctx, 2*time.Minute, "pod", p))
		pv, vol := e.claimVolume(ctx, t, "data-"+p)
		e.waitDetached(ctx, t, pv, vol)
	}
}

// inline: an inline ephemeral volume lives exactly as long as its pod.
func (e *env) inline(ctx context.Context, t *testing.T) {
	e.runPod(ctx, t, "scratch-user", podSpec{inline: "{size: 1Gi}"})
	e.exec(ctx, t, "scratch-user", "echo scratch > /data/x && sync")
	var id string
	vols, _, err := e.cloud.ListVolumes(ctx, cinder.ListOpts{})
	must(t, err)
	for _, v := range vols {
		if v.Metadata["cinder.csi.openstack.org/pod-name"] == "scratch-user" && v.Metadata["cinder.csi.openstack.org/ephemeral"] == "true" {
			id = v.ID
		}
	}
	if id == "" {
		t.Fatalf("no Cinder volume of the inline volume of pod scratch-user")
	}
	e.checkAttachedInCinder(ctx, t, id)
	e.deletePod(ctx, t, "scratch-user")
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if _, err := e.cloud.GetVolume(ctx, id); err != nil {
			break // gone
		}
		if time.Now().After(deadline) {
			t.Fatalf("the inline volume %s is still in Cinder 2 minutes after its pod was deleted", id)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// restarts: the node plugin's pod is deleted while a volume is mounted (the
// DaemonSet recreates it), kubelet is restarted; the workload keeps its data
// throughout, and when it is deleted its volume unmounts and detaches cleanly.
func (e *env) restarts(ctx context.Context, t *testing.T) {
	must(t, e.k.Apply(ctx, claimYAML("steady", "1Gi", "Filesystem", "")))
	e.runPod(ctx, t, "steady", podSpec{claims: []string{"steady"}})
	pv, vol := e.claimVolume(ctx, t, "steady")
	e.exec(ctx, t, "steady", "echo before > /data/f && sync")
	before, err := e.k.Get(ctx, "pod", "steady")
	must(t, err)
	containerID := firstContainerID(before)

	_, err = e.k.Run(ctx, "", "delete", "pod", "-n", namespace, "-l", "app.kubernetes.io/component=node", "--wait=true")
	must(t, err)
	e.waitPodsReady(ctx, t, namespace, "app.kubernetes.io/component=node", 1)
	if got := e.exec(ctx, t, "steady", "cat /data/f && echo during > /data/g && sync && cat /data/g"); got != "before\nduring" {
		t.Errorf("after the node plugin's restart the pod reads %q", got)
	}

	must(t, e.script("node", "kubelet-restart", work))
	e.waitRunning(ctx, t, "steady")
	after, err := e.k.Get(ctx, "pod", "steady")
	must(t, err)
	if id := firstContainerID(after); id != containerID || id == "" {
		t.Errorf("kubelet's restart restarted the pod's container (%s -> %s)", containerID, id)
	}
	// The API server says Ready from before the restart; exec reaches the pod once the
	// new kubelet has taken it over again.
	if got := e.execEventually(ctx, t, "steady", "cat /data/f /data/g"); got != "before\nduring" {
		t.Errorf("after kubelet's restart the pod reads %q", got)
	}
	e.deletePod(ctx, t, "steady")
	e.waitDetached(ctx, t, pv, vol)
}
