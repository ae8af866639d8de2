package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
	"github.com/cinder-csi/cinder-csi-driver/test/internal/testbed"
	"github.com/cinder-csi/cinder-csi-driver/test/sanityrun"
)

// env is one run: tools, work directory, the cloud, the driver and kubectl.
type env struct {
	bin, work string
	k         Kube
	cloud     *cinder.Client
	conn      *grpc.ClientConn
	timings   []timing
	yardstick *testbed.Yardstick // see stack
	driverBin string
	// before is the project's inventory when the run began.
	before map[string]string
	// attachments are the VolumeAttachments playKubelet saw attached (checkNoSecrets).
	attachments []map[string]any
	// mismatches counts the stagings refused for another filesystem (playKubelet).
	mismatches int
	// controllerHTTP and nodeHTTP are the drivers' --http-endpoint (/metrics).
	controllerHTTP, nodeHTTP string
}

type timing struct {
	what       string
	kube, ours time.Duration
	cinderWhat string
}

func requireE2E(t *testing.T) string {
	t.Helper()
	skip := sanityrun.Missing(t, "REQUIRE_E2E")
	bin := os.Getenv("E2E_BIN")
	if bin == "" {
		skip("E2E_BIN is not set: run make e2e (it builds the Kubernetes tools into .cache/e2e/bin)")
	}
	if os.Geteuid() != 0 {
		skip("the e2e test needs root: it plays kubelet with loop devices and mounts")
	}
	if _, err := testbed.CloudsFile(); err != nil {
		skip("%v", err)
	}
	return bin
}

func setUp(t *testing.T) *env {
	tools := requireE2E(t)
	ctx := context.Background()
	cloud, err := testbed.Client(ctx, "local")
	if err != nil {
		t.Fatal(err)
	}
	// Short: unix socket paths are limited to 108 bytes.
	work := "/tmp/cinder-csi-e2e"
	cluster := filepath.Join(filepath.Dir(currentFile()), "cluster.sh")
	_ = exec.Command("bash", cluster, "down", work).Run()
	if err := os.RemoveAll(work); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(work, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient("unix://"+filepath.Join(work, "node.sock"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{bin: tools, work: work, cloud: cloud, conn: conn,
		k: Kube{Kubectl: filepath.Join(tools, "kubectl"), Kubeconfig: filepath.Join(work, "kubeconfig")}}
	e.before = e.inventory(context.Background(), t)
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := filepath.Glob(filepath.Join(work, "logs", "*.log"))
			for _, l := range logs {
				data, _ := os.ReadFile(l)
				lines := strings.Split(strings.TrimSpace(string(data)), "\n")
				t.Logf("--- %s ends:\n%s", filepath.Base(l), strings.Join(lines[max(0, len(lines)-8):], "\n"))
			}
		}
		conn.Close()
		if out, err := exec.Command("bash", cluster, "down", work).CombinedOutput(); err != nil {
			t.Errorf("cluster down: %v: %s", err, out)
		}
		if t.Failed() {
			e.sweep(t, e.before)
		}
	})
	start := time.Now()
	// The controller side logs JSON (as the chart's logFormat: json makes it), the node
	// plugin text; checkJSONLogs proves every line of the former parses.
	up := exec.Command("bash", cluster, "up", tools, work, filepath.Join(work, "controller.sock"))
	up.Env = append(os.Environ(), "LOG_FORMAT=json")
	out, err := up.CombinedOutput()
	if err != nil {
		t.Fatalf("cluster up: %v: %s", err, out)
	}
	t.Logf("control plane and sidecars up in %v", time.Since(start).Round(time.Millisecond))
	clouds, _ := testbed.CloudsFile()
	bin := testbed.DriverBinary(t)
	e.driverBin = bin
	// The real binary twice, as the chart runs it: the controller plugin (with the
	// cloud's credentials) for the sidecars, the node plugin (without) for kubelet.
	// Started after the control plane: cluster.sh up begins by stopping whatever a
	// PID file in the work directory names, and the sidecars wait for the socket.
	// Both hold the same publish key, as the chart's Secret gives them; the node
	// describes itself with --node-ip and open-iscsi's initiator name file.
	keyFlag, err := testbed.WritePublishKey(work)
	if err != nil {
		t.Fatal(err)
	}
	initiatorFile := filepath.Join(work, "initiatorname.iscsi")
	if err := os.WriteFile(initiatorFile, []byte("InitiatorName="+testbed.Node(nodeName).Initiator+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.controllerHTTP, e.nodeHTTP = freeAddr(t), freeAddr(t)
	stopController := startDriver(t, bin, work, "controller", "--cloud-config="+clouds, "--cloud=local",
		"--cluster=e2e", "--expand-in-use=false", "--snapshot-in-use=false", "--logging-format=json", keyFlag,
		"--http-endpoint="+e.controllerHTTP)
	stopNode := startDriver(t, bin, work, "node", "--node-id="+nodeName, "--zone=nova", "--http-endpoint="+e.nodeHTTP,
		"--state-dir="+filepath.Join(work, "state"), "--max-volumes-per-node=8", keyFlag,
		"--node-ip="+testbed.Node(nodeName).IP, "--iscsi-initiator-file="+initiatorFile)
	t.Cleanup(func() {
		stopNode()
		stopController()
	})
	return e
}

// startDriver runs the driver binary in mode with its socket at <work>/<mode>.sock,
// its log in <work>/logs/driver-<mode>.log and its PID in <work>/driver-<mode>.pid
// (so that cluster.sh down stops it too), and returns its stop function.
func startDriver(t *testing.T, bin, work, mode string, args ...string) func() {
	t.Helper()
	sock := filepath.Join(work, mode+".sock")
	logf, err := os.Create(filepath.Join(work, "logs", "driver-"+mode+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"--mode=" + mode, "--attacher=cinder", "--endpoint=unix://" + sock, "--v=10"}, args...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pidFile := filepath.Join(work, "driver-"+mode+".pid")
	_ = os.WriteFile(pidFile, []byte(fmt.Sprint(cmd.Process.Pid)), 0o644)
	exited, _ := testbed.Run(cmd.Wait)
	stop := func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		os.Remove(pidFile)
		logf.Close()
	}
	if err := testbed.WaitServing(context.Background(), sock, exited, 30*time.Second); err != nil {
		stop()
		data, _ := os.ReadFile(logf.Name())
		t.Fatalf("the %s plugin: %v (%v):\n%s", mode, err, cmd.ProcessState, data)
	}
	return stop
}

func currentFile() string {
	out, err := exec.Command("go", "list", "-f", "{{.Dir}}", "github.com/cinder-csi/cinder-csi-driver/test/e2e").Output()
	if err != nil {
		return "test/e2e/x"
	}
	return filepath.Join(strings.TrimSpace(string(out)), "x")
}

// TestEndToEnd is the chain an operator relies on, each step checked on the
// Kubernetes side and in Cinder; see the package comment for what is played.
func TestEndToEnd(t *testing.T) {
	e := setUp(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	before := e.before

	t.Run("chart accepted by the API server", func(t *testing.T) { e.chartDryRun(ctx, t) })

	must(t, e.k.Apply(ctx, classes))
	pvcs := e.watch(ctx, t, "/api/v1/namespaces/default/persistentvolumeclaims")
	must(t, e.k.Apply(ctx, nodeObjects(e.nodeID(ctx, t))))

	// StorageClass -> PVC Bound -> Cinder volume.
	bound := e.timeTo(ctx, t, pvcs, func() { must(t, e.k.Apply(ctx, pvc("data", "1Gi", ""))) }, "data", "pvc/data Bound", phase("Bound"))
	pvData, volData := e.pvOf(ctx, t, "data")
	v := e.volume(ctx, t, volData)
	if v.SizeGiB != 1 || v.VolumeType != "standard" || v.Metadata["csi.storage.k8s.io/pvc/name"] != "data" ||
		v.Metadata["csi.storage.k8s.io/pvc/namespace"] != "default" {
		t.Errorf("Cinder volume %s: %d GiB, type %q, metadata %v; want 1 GiB standard with the PVC's name and namespace", v.ID, v.SizeGiB, v.VolumeType, v.Metadata)
	}
	e.timings = append(e.timings, timing{what: "PVC -> Bound", kube: bound, ours: e.cinderCreate(ctx, t), cinderWhat: "Cinder volume create -> available"})

	// VolumeAttachment -> attached -> Cinder attachment; kubelet's part played here.
	payload := "written through Kubernetes at " + time.Now().Format(time.RFC3339Nano)
	attached := e.attachAndUse(ctx, t, "va-data", pvData, volData, func(dir string) {
		must(t, os.WriteFile(filepath.Join(dir, "data"), []byte(payload), 0o600))
	})
	e.timings = append(e.timings, timing{what: "VolumeAttachment -> attached", kube: attached, ours: e.cinderAttach(ctx, t), cinderWhat: "Cinder attachment create + complete -> in-use"})

	// VolumeSnapshot -> ReadyToUse -> Cinder snapshot.
	snapshots := e.watch(ctx, t, "/apis/snapshot.storage.k8s.io/v1/namespaces/default/volumesnapshots")
	ready := e.timeTo(ctx, t, snapshots, func() { must(t, e.k.Apply(ctx, snapshot("snap-data", "e2e-snapshot", "data"))) },
		"snap-data", "volumesnapshot/snap-data ready", readyToUse)
	snapID := e.snapshotHandle(ctx, t, "snap-data")
	if s, err := e.cloud.GetSnapshot(ctx, snapID); err != nil || s.VolumeID != volData {
		t.Errorf("Cinder snapshot %s: %+v, %v; want one of volume %s", snapID, s, err, volData)
	}
	e.timings = append(e.timings, timing{what: "VolumeSnapshot -> ReadyToUse", kube: ready, ours: e.cinderSnapshot(ctx, t, volData), cinderWhat: "Cinder snapshot create -> available"})

	// PVC from the snapshot -> Bound; the data reads back through it.
	must(t, e.k.Apply(ctx, pvc("restored", "1Gi", "snap-data")))
	_, err := e.k.WaitFor(ctx, 3*time.Minute, "pvc/restored Bound", phase("Bound"), "pvc", "restored")
	must(t, err)
	pvRestored, volRestored := e.pvOf(ctx, t, "restored")
	if rv := e.volume(ctx, t, volRestored); rv.SnapshotID != snapID {
		t.Errorf("restored volume %s has snapshot_id %q, want %s", volRestored, rv.SnapshotID, snapID)
	}
	e.attachAndUse(ctx, t, "va-restored", pvRestored, volRestored, func(dir string) {
		got, err := os.ReadFile(filepath.Join(dir, "data"))
		if err != nil || string(got) != payload {
			t.Errorf("restored data: %q, %v; want %q", got, err, payload)
		}
	})

	// VolumeGroupSnapshot of two claims -> ReadyToUse -> one Cinder group snapshot;
	// both members restore with their data.
	groupReady := e.groupSnapshotOfTwo(ctx, t)
	fmt.Printf("e2e-timing: %-30s %8v   (a temporary group, both members, the group emptied: no single Cinder call to compare)\n",
		"VolumeGroupSnapshot -> Ready", groupReady.Round(time.Millisecond))

	// The backup VolumeSnapshotClass -> a Cinder backup.
	must(t, e.k.Apply(ctx, snapshot("backup-data", "e2e-backup", "data")))
	_, err = e.k.WaitFor(ctx, 5*time.Minute, "volumesnapshot/backup-data ready", readyToUse, "volumesnapshot", "backup-data")
	must(t, err)
	backupID := e.snapshotHandle(ctx, t, "backup-data")
	if b, err := e.cloud.GetBackup(ctx, backupID); err != nil || b.VolumeID != volData {
		t.Errorf("Cinder backup %s: %+v, %v; want one of volume %s", backupID, b, err, volData)
	}

	// PVC resize -> Cinder size.
	_, err = e.k.Run(ctx, "", "patch", "pvc", "data", "-p", `{"spec":{"resources":{"requests":{"storage":"2Gi"}}}}`)
	must(t, err)
	_, err = e.k.WaitFor(ctx, 3*time.Minute, "pv capacity 2Gi", func(o map[string]any) bool { return Str(o, "spec", "capacity", "storage") == "2Gi" }, "pv", pvData)
	must(t, err)
	if v := e.volume(ctx, t, volData); v.SizeGiB != 2 {
		t.Errorf("Cinder volume %s is %d GiB after the resize, want 2", volData, v.SizeGiB)
	}

	// VolumeAttributesClass -> Cinder retype.
	_, err = e.k.Run(ctx, "", "patch", "pvc", "data", "-p", `{"spec":{"volumeAttributesClassName":"e2e-fast"}}`)
	must(t, err)
	_, err = e.k.WaitFor(ctx, 3*time.Minute, "pvc/data on e2e-fast", func(o map[string]any) bool {
		return Str(o, "status", "currentVolumeAttributesClassName") == "e2e-fast"
	}, "pvc", "data")
	must(t, err)
	if v := e.volume(ctx, t, volData); v.VolumeType != "fast" {
		t.Errorf("Cinder volume %s has type %q after the class change, want fast", volData, v.VolumeType)
	}

	// The chart's default binding: a pod's WaitForFirstConsumer claim, placed by the
	// scheduler and attached by the controller manager.
	podBound, podAttached := e.podWithWaitingClaim(ctx, t, pvcs)
	t.Run("a zone Cinder lacks is refused, not ignored", func(t *testing.T) { e.zoneReachesCinder(ctx, t) })
	t.Run("a restore is made in its snapshot's zone and the pod follows", func(t *testing.T) { e.restoreFollowsSnapshot(ctx, t) })
	create, attach := e.cinderCreate(ctx, t), e.cinderAttach(ctx, t)
	e.timings = append(e.timings,
		timing{what: "pod -> WFFC claim Bound", kube: podBound, ours: create, cinderWhat: "Cinder volume create -> available"},
		timing{what: "pod -> its volume attached", kube: podAttached, ours: create + attach, cinderWhat: "Cinder create, then attachment -> in-use"})

	// The same two steps on a controller that has learned them.
	warmBound, warmReady := e.warmTimings(ctx, t, pvcs, snapshots)
	e.timings = append(e.timings,
		timing{what: fmt.Sprintf("PVC -> Bound (%s)", warmWhat), kube: warmBound, ours: e.cinderCreate(ctx, t), cinderWhat: "Cinder volume create -> available"},
		timing{what: fmt.Sprintf("VolumeSnapshot -> Ready (%s)", warmWhat), kube: warmReady, ours: e.cinderSnapshot(ctx, t, volData), cinderWhat: "Cinder snapshot create -> available"})

	// Everything deleted through Kubernetes; Cinder holds nothing of it.
	for _, obj := range [][]string{{"volumesnapshot", "snap-data", "backup-data"}, {"pvc", "restored", "data"}} {
		_, err := e.k.Run(ctx, "", append([]string{"delete", "--wait=false"}, obj...)...)
		must(t, err)
	}
	for _, pv := range []string{pvData, pvRestored} {
		must(t, e.k.WaitGone(ctx, 3*time.Minute, "pv", pv))
	}
	for _, vs := range []string{"snap-data", "backup-data"} {
		must(t, e.k.WaitGone(ctx, 3*time.Minute, "volumesnapshot", vs))
	}
	e.checkNothingLeft(ctx, t, before)
	e.checkJSONLogs(t, "driver-controller", "csi-provisioner", "csi-attacher", "csi-resizer", "csi-snapshotter", "snapshot-controller")
	e.checkNoSecrets(t)
	t.Run("metrics match what the run did", func(t *testing.T) { e.checkMetrics(ctx, t) })
	e.printTimings()
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func phase(p string) func(map[string]any) bool {
	return func(o map[string]any) bool { return Str(o, "status", "phase") == p }
}

func readyToUse(o map[string]any) bool { return Field(o, "status", "readyToUse") == true }

func (e *env) printTimings() {
	for _, tm := range e.timings {
		fmt.Printf("e2e-timing: %-30s %8v   %-45s %8v   ratio %.2f\n", tm.what, tm.kube.Round(time.Millisecond),
			tm.cinderWhat, tm.ours.Round(time.Millisecond), float64(tm.kube)/float64(tm.ours))
	}
}

// pvOf returns the PVC's PV and the Cinder volume ID behind it.
func (e *env) pvOf(ctx context.Context, t *testing.T, claim string) (pv, volumeID string) {
	t.Helper()
	c, err := e.k.Get(ctx, "pvc", claim)
	must(t, err)
	pv = Str(c, "spec", "volumeName")
	p, err := e.k.Get(ctx, "pv", pv)
	must(t, err)
	return pv, Str(p, "spec", "csi", "volumeHandle")
}

func (e *env) volume(ctx context.Context, t *testing.T, id string) *cinder.Volume {
	t.Helper()
	v, err := e.cloud.GetVolume(ctx, id)
	must(t, err)
	return v
}

func (e *env) snapshotHandle(ctx context.Context, t *testing.T, vs string) string {
	t.Helper()
	s, err := e.k.Get(ctx, "volumesnapshot", vs)
	must(t, err)
	c, err := e.k.Get(ctx, "volumesnapshotcontent", Str(s, "status", "boundVolumeSnapshotContentName"))
	must(t, err)
	return Str(c, "status", "snapshotHandle")
}

// attachAndUse makes a VolumeAttachment, waits until it is attached and Cinder
// shows the attachment, then plays kubelet: stage and publish with the
// VolumeAttachment's publish context, use(dir), unpublish and unstage; then
// deletes the VolumeAttachment and waits until Cinder shows the volume free.
// It returns the time from the VolumeAttachment's creation to attached.
func (e *env) attachAndUse(ctx context.Context, t *testing.T, name, pv, volumeID string, use func(dir string)) time.Duration {
	t.Helper()
	vas := e.watch(ctx, t, "/apis/storage.k8s.io/v1/volumeattachments")
	took := e.timeTo(ctx, t, vas, func() { must(t, e.k.Apply(ctx, volumeAttachment(name, pv))) }, name, "volumeattachment/"+name+" attached",
		func(o map[string]any) bool { return Field(o, "status", "attached") == true })
	vas.Close()
	e.playKubelet(ctx, t, name, volumeID, use)
	_, err := e.k.Run(ctx, "", "delete", "volumeattachment", name, "--timeout=3m")
	must(t, err)
	must(t, e.k.WaitGone(ctx, 3*time.Minute, "volumeattachment", name))
	if v := e.volume(ctx, t, volumeID); v.Status != "available" || len(v.Attachments) > 0 {
		t.Errorf("after the VolumeAttachment is gone, Cinder shows volume %s %q with attachments %+v", volumeID, v.Status, v.Attachments)
	}
	return took
}

// watch opens a watch on the collection at path for the rest of the test.
func (e *env) watch(ctx context.Context, t *testing.T, path string) *Watch {
	t.Helper()
	w, err := e.k.Watch(ctx, path)
	must(t, err)
	t.Cleanup(w.Close)
	return w
}

// timeTo runs create, which creates the object name of w's collection, and returns
// the time from the API server's event of its creation to the one on which cond
// holds.
func (e *env) timeTo(ctx context.Context, t *testing.T, w *Watch, create func(), name, what string, cond func(map[string]any) bool) time.Duration {
	t.Helper()
	create()
	created, _, err := w.When(ctx, time.Minute, name+" created", name, Exists)
	must(t, err)
	done, _, err := w.When(ctx, 3*time.Minute, what, name, cond)
	must(t, err)
	return done.Sub(created)
}

// playKubelet does kubelet's part for an attached VolumeAttachment: it checks that
// Cinder shows the attachment, reports the volume in use in the Node's status,
// stages and publishes with the VolumeAttachment's publish context, use(dir),
// unpublishes and unstages, and reports the volume no longer in use (which is what
// lets the attach-detach controller detach it).
func (e *env) playKubelet(ctx context.Context, t *testing.T, name, volumeID string, use func(dir string)) {
	t.Helper()
	if v := e.volume(ctx, t, volumeID); !v.AttachedTo(nodeName) {
		t.Fatalf("VolumeAttachment %s is attached but Cinder shows volume %s %q with attachments %+v", name, volumeID, v.Status, v.Attachments)
	}
	va, err := e.k.Get(ctx, "volumeattachment", name)
	must(t, err)
	e.attachments = append(e.attachments, va)
	e.volumesInUse(ctx, t, "kubernetes.io/csi/"+driverName+"^"+volumeID)
	pc := map[string]string{}
	if m, ok := Field(va, "status", "attachmentMetadata").(map[string]any); ok {
		for k, v := range m {
			pc[k], _ = v.(string)
		}
	}
	nodeSvc := csi.NewNodeClient(e.conn)
	// kubelet's own layout, which the node plugin's staged-volumes metric reads.
	kubelet := filepath.Join(e.work, "kubelet")
	staging := filepath.Join(kubelet, "plugins/kubernetes.io/csi", driverName, fmt.Sprintf("%x", sha256.Sum256([]byte(volumeID))), "globalmount")
	target := filepath.Join(kubelet, "pods", name, "volumes/kubernetes.io~csi", name, "mount")
	capab := &csi.VolumeCapability{
		AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{FsType: "ext4"}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
	}
	_, err = nodeSvc.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: volumeID, PublishContext: pc, StagingTargetPath: staging, VolumeCapability: capab})
	must(t, err)
	_, err = nodeSvc.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: volumeID, PublishContext: pc, StagingTargetPath: staging, TargetPath: target, VolumeCapability: capab})
	must(t, err)
	e.checkStaged(t, 1)
	use(target)
	_, err = nodeSvc.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: volumeID, TargetPath: target})
	must(t, err)
	_, err = nodeSvc.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: volumeID, StagingTargetPath: staging})
	must(t, err)
	e.checkStaged(t, 0)
	// The volume holds ext4 now: staging it as xfs is refused, stages nothing, and is
	// counted as a node failure (checkMetrics).
	xfs := &csi.VolumeCapability{
		AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{FsType: "xfs"}},
		AccessMode: capab.AccessMode,
	}
	_, err = nodeSvc.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: volumeID, PublishContext: pc, StagingTargetPath: staging, VolumeCapability: xfs})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "ext4") {
		t.Errorf("staging volume %s (ext4) as xfs: %v, want FailedPrecondition naming ext4", volumeID, err)
	}
	e.mismatches++
	e.checkStaged(t, 0)
	_, err = nodeSvc.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: volumeID, StagingTargetPath: staging})
	must(t, err)
	e.volumesInUse(ctx, t)
}

// volumesInUse sets the Node's status.volumesInUse as kubelet reports it.
func (e *env) volumesInUse(ctx context.Context, t *testing.T, names ...string) {
	t.Helper()
	patch, _ := json.Marshal(map[string]any{"status": map[string]any{"volumesInUse": append([]string{}, names...)}})
	_, err := e.k.Run(ctx, "", "patch", "node", nodeName, "--subresource=status", "--type=merge", "-p", string(patch))
	must(t, err)
}

// chartDryRun lints deploy/helm, has the API server validate every object it
// renders (ephemeral volumes and the VolumeAttributesClass on, and the snapshot and
// VolumeAttributesClass APIs declared, so that all render) and has the binaries accept
// the arguments the chart gives them. It also checks what the chart leaves out or
// refuses: the classes where their API is not served, bad values by its schema.
func (e *env) chartDryRun(ctx context.Context, t *testing.T) {
	chart := filepath.Join(filepath.Dir(filepath.Dir(filepath.Dir(currentFile()))), "deploy", "helm")
	helmEnv := append(os.Environ(), "HOME="+filepath.Join(e.work, "helm-home"))
	helm := func(args ...string) *exec.Cmd {
		c := exec.CommandContext(ctx, filepath.Join(e.bin, "helm"), args...)
		c.Env = helmEnv
		return c
	}
	template := func(args ...string) *exec.Cmd {
		return helm(append([]string{"template", "cinder-csi", chart, "--namespace", "kube-system"}, args...)...)
	}
	stderr := func(err error) string {
		if ee, ok := err.(*exec.ExitError); ok {
			return string(ee.Stderr)
		}
		return ""
	}
	if out, err := helm("lint", "--strict", chart).CombinedOutput(); err != nil {
		t.Fatalf("helm lint --strict: %v: %s", err, out)
	}
	values := []string{"--set", "cloud.cloudsYaml=clouds: {}", "--set", "ephemeral.enabled=true",
		"--set", "volumeAttributesClass.enabled=true", "--set", "logFormat=json", "--set", "topology.ignoreVolumeAZ=true"}
	// helm install asks the cluster which APIs it serves; helm template is told.
	apis := []string{"--api-versions", "snapshot.storage.k8s.io/v1/VolumeSnapshotClass",
		"--api-versions", "groupsnapshot.storage.k8s.io/v1/VolumeGroupSnapshotClass",
		"--api-versions", "storage.k8s.io/v1/VolumeAttributesClass"}
	rendered, err := template(append(append([]string{}, values...), apis...)...).Output()
	if err != nil {
		t.Fatalf("helm template: %v: %s", err, stderr(err))
	}
	// Every container of both workloads (the driver twice, seven sidecars) gets the format.
	if n := strings.Count(string(rendered), `"--logging-format=json"`); n != 9 {
		t.Errorf("logFormat=json reaches %d containers, want 9 (driver and sidecars of both workloads)", n)
	}
	// Both plugins get ignore-volume-az: the node plugin creates inline ephemeral volumes.
	if n := strings.Count(string(rendered), `"--ignore-volume-az"`); n != 2 {
		t.Errorf("topology.ignoreVolumeAZ=true reaches %d containers, want 2 (both driver plugins)", n)
	}
	classes := map[string]int{"VolumeSnapshotClass": 2, "VolumeGroupSnapshotClass": 1, "VolumeAttributesClass": 1}
	for kind, want := range classes {
		if n := strings.Count(string(rendered), "\nkind: "+kind+"\n"); n != want {
			t.Errorf("with the %s API declared the chart renders %d of them, want %d", kind, n, want)
		}
	}
	// A cluster without the snapshot CRDs (or before Kubernetes 1.34) gets no classes it
	// would refuse; NOTES.txt says what to install instead.
	bare, err := template(values...).Output()
	if err != nil {
		t.Fatalf("helm template without --api-versions: %v: %s", err, stderr(err))
	}
	for kind := range classes {
		if strings.Contains(string(bare), "\nkind: "+kind+"\n") {
			t.Errorf("without the %s API the chart still renders one; the install would fail on it", kind)
		}
	}
	// values.schema.json refuses bad values, a misspelt key included, before any template runs.
	// The schema is the chart's one copy of the driver's rules for single values and
	// class parameters; the templates check only combinations.
	for _, c := range []struct{ flag, set, want string }{
		{"--set", "logFormat=yaml", "at '/logFormat': value must be one of 'text', 'json'"},
		{"--set", "controler.replicas=2", "additional properties 'controler' not allowed"},
		{"--set", "node.stateDir=/var/lib/../x", "at '/node/stateDir'"},
		{"--set-json", `storageClasses=[{"name":"a","parameters":{"bogus":"1"}}]`, "at '/storageClasses/0/parameters': additional properties 'bogus' not allowed"},
		{"--set-json", `storageClasses=[{"name":"a","fsType":"zfs"}]`, "at '/storageClasses/0/fsType'"},
		{"--set-json", `volumeSnapshotClasses=[{"name":"a","parameters":{"type":"clone"}}]`, "at '/volumeSnapshotClasses/0/parameters/type'"},
		{"--set-json", `volumeGroupSnapshotClasses=[{"name":"a","parameters":{"consistency":"best"}}]`, "at '/volumeGroupSnapshotClasses/0/parameters/consistency'"},
		{"--set-json", `volumeAttributesClass={"enabled":true,"classes":[{"name":"a","parameters":{"type":"ssd","iops":"3"}}]}`,
			"at '/volumeAttributesClass/classes/0/parameters': additional properties 'iops' not allowed"},
	} {
		out, err := template("--set", "cloud.cloudsYaml=clouds: {}", c.flag, c.set).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "values don't meet the specifications of the schema") ||
			!strings.Contains(string(out), c.want) {
			t.Errorf("helm template %s %s: %v: %s; want the schema's refusal %q", c.flag, c.set, err, out, c.want)
		}
	}
	// The old value names (renamed to the EBS chart's) still render the same objects.
	common := []string{"--set", "cloud.cloudsYaml=clouds: {}", "--set", "publishKey.secretName=pk"}
	oldNames, err := template(append(common, "--set", "controller.replicas=2", "--set", "kubeletDir=/var/lib/k0s/kubelet",
		"--set", "controller.strategy.type=Recreate", "--set", "node.extraArgs[0]=--zone=a", "--set", "sidecars.resizer.extraArgs[0]=--kube-api-qps=20")...).Output()
	if err != nil {
		t.Fatalf("helm template with the old value names: %v: %s", err, stderr(err))
	}
	newNames, err := template(append(common, "--set", "controller.replicaCount=2", "--set", "node.kubeletPath=/var/lib/k0s/kubelet",
		"--set", "controller.updateStrategy.type=Recreate", "--set", "node.additionalArgs[0]=--zone=a", "--set", "sidecars.resizer.additionalArgs[0]=--kube-api-qps=20")...).Output()
	if err != nil {
		t.Fatalf("helm template with the new value names: %v: %s", err, stderr(err))
	}
	if string(oldNames) != string(newNames) || !strings.Contains(string(newNames), "/var/lib/k0s/kubelet/plugins_registry") {
		t.Errorf("the old value names render otherwise than the new ones")
	}
	// What the driver accepts, the schema does too: ext3, a backup class in any case.
	if out, err := template("--set", "cloud.cloudsYaml=clouds: {}", "--set-json",
		`storageClasses=[{"name":"a","fsType":"ext3","parameters":{"type":"ssd","csi.storage.k8s.io/fstype":"ext3"}}]`,
		"--set-json", `volumeSnapshotClasses=[{"name":"b","parameters":{"type":"Backup"}}]`).CombinedOutput(); err != nil {
		t.Errorf("helm template with an ext3 StorageClass and a Backup class: %v: %s", err, out)
	}
	out, err := e.k.Run(ctx, string(rendered), "apply", "--dry-run=server", "-f", "-")
	if err != nil {
		t.Fatalf("the API server refuses the chart: %v", err)
	}
	t.Logf("chart: %d objects accepted by a server-side dry run", strings.Count(out, "(server dry run)"))
	e.chartArgsAccepted(ctx, t, rendered)
}

// nodeID is what the node plugin reports in NodeGetInfo, as node-driver-registrar
// would put it into the CSINode object: host;ip;initiator;signature on the Cinder path.
func (e *env) nodeID(ctx context.Context, t *testing.T) string {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	info, err := csi.NewNodeClient(e.conn).NodeGetInfo(wctx, &csi.NodeGetInfoRequest{}, grpc.WaitForReady(true))
	if err != nil {
		t.Fatalf("NodeGetInfo: %v", err)
	}
	if want := testbed.NodeID(nodeName); info.GetNodeId() != want {
		t.Fatalf("the node plugin reports node ID %q; want %q (its host, --node-ip, initiator name and the publish key's signature)", info.GetNodeId(), want)
	}
	return info.GetNodeId()
}
