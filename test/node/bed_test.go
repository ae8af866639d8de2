package node

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
	"github.com/cinder-csi/cinder-csi-driver/test/e2e"
	"github.com/cinder-csi/cinder-csi-driver/test/internal/inventory"
	"github.com/cinder-csi/cinder-csi-driver/test/internal/testbed"
	"github.com/cinder-csi/cinder-csi-driver/test/sanityrun"
)

const (
	// work is short: unix socket paths are limited to 108 bytes.
	work      = "/tmp/cinder-csi-node"
	nodeName  = "node-1"
	namespace = "kube-system"
	release   = "cinder-csi"
	clusterID = "node-e2e"
	// stateRoot holds containerd's and the node plugin's state (node.sh).
	stateRoot  = "/var/lib/cinder-csi-node"
	driverName = "cinder.csi.openstack.org"
	busybox    = "registry.k8s.io/e2e-test-images/busybox:1.37.0-2"
)

// Ports of this suite's control plane, apart from test/e2e's.
var clusterEnv = []string{"KUBELET_NODE=" + nodeName, "ETCD_PORT=42379", "ETCD_PEER_PORT=42380", "API_PORT=46443"}

type env struct {
	bin, images, repo string
	k                 e2e.Kube
	cloud             *cinder.Client
	yard              *testbed.Yardstick
	timings           []string
}

func setUp(t *testing.T) *env {
	skip := sanityrun.Missing(t, "REQUIRE_NODE_E2E")
	bin, images := os.Getenv("E2E_BIN"), os.Getenv("IMAGES_DIR")
	if bin == "" || images == "" {
		skip("E2E_BIN and IMAGES_DIR are not set: run make node-e2e (it builds the tools and images)")
	}
	if os.Geteuid() != 0 {
		skip("the node suite needs root: it runs containerd and kubelet")
	}
	clouds, err := testbed.CloudsFile()
	if err != nil {
		skip("%v", err)
	}
	ctx := context.Background()
	cloud, err := testbed.Client(ctx, "local")
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	e := &env{bin: bin, images: images, repo: filepath.Join(wd, "..", ".."), cloud: cloud,
		k: e2e.Kube{Kubectl: filepath.Join(bin, "kubectl"), Kubeconfig: filepath.Join(work, "kubeconfig")}}
	// Whatever a killed run left: its node first (pods, mounts), then its control plane.
	_ = e.script("node", "down", work)
	_ = e.script("cluster", "down", work)
	if err := os.RemoveAll(work); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	hostBefore := hostState(t)
	cloudBefore, err := inventory.Inventory(ctx, cloud)
	must(t, err)
	t.Cleanup(func() { e.tearDown(t, hostBefore, cloudBefore) })

	start := time.Now()
	must(t, e.script("cluster", "up", bin, work))
	t.Logf("control plane up in %v", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	must(t, e.script("node", "up", bin, work, images))
	t.Logf("node up (containerd, images, kubelet Ready) in %v", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	e.install(ctx, t, clouds)
	t.Logf("chart installed, every container Ready, plugin registered in %v", time.Since(start).Round(time.Millisecond))
	return e
}

// script runs test/e2e/cluster.sh or test/node/node.sh with args.
func (e *env) script(which string, args ...string) error {
	path := filepath.Join(e.repo, "test", "node", "node.sh")
	if which == "cluster" {
		path = filepath.Join(e.repo, "test", "e2e", "cluster.sh")
	}
	cmd := exec.Command("bash", append([]string{path}, args...)...)
	cmd.Env = append(os.Environ(), clusterEnv...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v:\n%s", filepath.Base(path), strings.Join(args, " "), err, out)
	}
	return nil
}

func (e *env) helm(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(e.bin, "helm"), append([]string{"--kubeconfig", e.k.Kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+filepath.Join(work, "helm-home"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("helm %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// values are the chart values of this node: Cinder attachments with node IDs from
// the node names, the test bed's NFS share and zone, inline volumes on, nothing
// pulled (every image was imported by node.sh), and the host network for the pods
// that talk to the test bed's OpenStack on 127.0.0.1 (the controller, and the node
// plugin for inline volumes), with the controller's ports moved off the node plugin's.
func values(clouds string) string {
	return fmt.Sprintf(`attacher: cinder
clusterID: %s
logLevel: 4
expandInUse: false
snapshotInUse: false
maxVolumesPerNode: 16
nodeAllocatableUpdatePeriodSeconds: %d
image: {pullPolicy: Never}
sidecars:
  provisioner: {image: {pullPolicy: Never}}
  attacher: {image: {pullPolicy: Never}}
  snapshotter: {image: {pullPolicy: Never}}
  resizer: {image: {pullPolicy: Never}}
  livenessProbe: {image: {pullPolicy: Never}}
  nodeDriverRegistrar: {image: {pullPolicy: Never}}
controller:
  hostNetwork: true
  healthPort: 9820
  livenessProbePort: 9828
node:
  hostNetwork: true
  nodeIDFromNodeName: true
  nfsMountBase: %s
  stateDir: %s/plugin
  additionalArgs: [--zone=nova]
ephemeral: {enabled: true, maxSizeGiB: 2, maxPerNode: 4}
cloud:
  cloudName: local
  cloudsYaml: |
%s`, clusterID, refreshPeriod, nfsMountBase(), stateRoot, indent(clouds, "    "))
}

func nfsMountBase() string {
	if b := os.Getenv("CINDER_TEST_BASE"); b != "" {
		return filepath.Join(b, "mnt")
	}
	return "/var/lib/cinder-csi-test/mnt"
}

func indent(s, by string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return by + strings.Join(lines, "\n"+by) + "\n"
}

// install is `helm install` of deploy/helm, then every container of the controller
// and node pods Ready, and the CSINode that kubelet made when node-driver-registrar
// registered the plugin.
func (e *env) install(ctx context.Context, t *testing.T, cloudsFile string) {
	t.Helper()
	clouds, err := os.ReadFile(cloudsFile)
	must(t, err)
	vf := filepath.Join(work, "values.yaml")
	must(t, os.WriteFile(vf, []byte(values(string(clouds))), 0o600))
	out, err := e.helm(ctx, "install", release, filepath.Join(e.repo, "deploy", "helm"), "--namespace", namespace, "-f", vf)
	must(t, err)
	t.Logf("helm install: %s", firstLine(out))
	for _, sel := range []string{"controller", "node"} {
		e.waitPodsReady(ctx, t, namespace, "app.kubernetes.io/component="+sel, 1)
	}
	_, err = e.k.WaitFor(ctx, 2*time.Minute, "CSINode "+nodeName+" with the driver", func(o map[string]any) bool {
		ds, _ := e2e.Field(o, "spec", "drivers").([]any)
		for _, d := range ds {
			m, _ := d.(map[string]any)
			// The Cinder path's node ID: host;ip;initiator;signature (pkg/driver/node_id.go),
			// here with the node's IP from status.hostIP and no initiator (no open-iscsi).
			if id, _ := m["nodeID"].(string); m["name"] == driverName && strings.HasPrefix(id, nodeName+";") {
				if f := strings.Split(id, ";"); len(f) != 4 || net.ParseIP(f[1]) == nil || len(f[3]) != 22 {
					t.Errorf("CSINode %s: the driver's node ID %q is not host;ip;initiator;signature", nodeName, id)
				}
				return true
			}
		}
		return false
	}, "csinode", nodeName)
	must(t, err)
	n, err := e.k.Get(ctx, "node", nodeName)
	must(t, err)
	if z := e2e.Str(n, "metadata", "labels", "topology.cinder.csi.openstack.org/zone"); z != "nova" {
		t.Errorf("node %s has zone label %q, want nova (kubelet copies NodeGetInfo's topology)", nodeName, z)
	}
}

// waitPodsReady waits until at least n pods match selector and every container of
// each is ready; on timeout it says which container is not and why.
func (e *env) waitPodsReady(ctx context.Context, t *testing.T, ns, selector string, n int) {
	t.Helper()
	_, err := e.k.WaitFor(ctx, 4*time.Minute, "pods "+selector+" ready", func(list map[string]any) bool {
		items, _ := list["items"].([]any)
		if len(items) < n {
			return false
		}
		for _, it := range items {
			if !podReady(it.(map[string]any)) {
				return false
			}
		}
		return true
	}, "pods", "-n", ns, "-l", selector)
	if err != nil {
		out, _ := e.k.Run(ctx, "", "describe", "pods", "-n", ns, "-l", selector)
		t.Fatalf("%v\n%s", err, tail(out, 60))
	}
}

func empty(list map[string]any) bool {
	items, _ := list["items"].([]any)
	return len(items) == 0
}

func podReady(p map[string]any) bool {
	if e2e.Field(p, "metadata", "deletionTimestamp") != nil {
		return false
	}
	cs, _ := e2e.Field(p, "status", "containerStatuses").([]any)
	if len(cs) == 0 {
		return false
	}
	for _, c := range cs {
		if m, _ := c.(map[string]any); m["ready"] != true {
			return false
		}
	}
	return true
}

// tearDown deletes every workload and waits for kubelet and the sidecars to
// unpublish, detach and delete; uninstalls the chart; stops the node and the
// control plane; then compares the host and Cinder with what they held before.
func (e *env) tearDown(t *testing.T, hostBefore map[string]bool, cloudBefore map[string]string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if t.Failed() {
		e.dumpLogs(ctx, t)
	}
	if _, err := os.Stat(e.k.Kubeconfig); err == nil {
		_, _ = e.k.Run(ctx, "", "delete", "statefulset,pod,volumesnapshot,pvc", "--all", "-n", "default", "--wait=true", "--timeout=3m")
		for _, kind := range []string{"pv", "volumeattachment"} {
			if _, err := e.k.WaitFor(ctx, 3*time.Minute, "no "+kind, empty, kind); err != nil {
				t.Errorf("%v", err)
			}
		}
		// The driver's part, before node.sh down unmounts whatever is left: no
		// volume mount, loop device or qemu export of a workload may survive it.
		if left := volumeState(diffState(hostBefore, hostState(t))); len(left) > 0 {
			t.Errorf("left on the host by the driver after every workload was deleted:\n  %s", strings.Join(left, "\n  "))
		}
		if out, err := e.helm(ctx, "uninstall", release, "--namespace", namespace, "--wait", "--timeout", "2m"); err != nil {
			t.Errorf("helm uninstall: %v: %s", err, out)
		}
	}
	if err := e.script("node", "down", work); err != nil {
		t.Errorf("node down: %v", err)
	}
	if err := e.script("cluster", "down", work); err != nil {
		t.Errorf("cluster down: %v", err)
	}
	if left := diffState(hostBefore, hostState(t)); len(left) > 0 {
		t.Errorf("left on the host after the run:\n  %s", strings.Join(left, "\n  "))
	}
	left, err := inventory.Leftovers(ctx, e.cloud, cloudBefore, time.Minute)
	if err != nil {
		t.Errorf("Cinder inventory: %v", err)
	} else if len(left) > 0 {
		t.Errorf("left in Cinder after every Kubernetes object was deleted: %s", strings.Join(left, ", "))
	}
	for _, l := range e.timings {
		fmt.Println(l)
	}
}

// dumpLogs prints the end of each component's and pod's log of a failed run.
func (e *env) dumpLogs(ctx context.Context, t *testing.T) {
	logs, _ := filepath.Glob(filepath.Join(work, "*", "*.log"))
	more, _ := filepath.Glob(filepath.Join(work, "node", "logs", "*.log"))
	for _, l := range append(logs, more...) {
		data, _ := os.ReadFile(l)
		t.Logf("--- %s ends:\n%s", l, tail(string(data), 15))
	}
	for _, sel := range []string{"controller", "node"} {
		out, _ := e.k.Run(ctx, "", "logs", "-n", namespace, "-l", "app.kubernetes.io/component="+sel, "--all-containers", "--tail=20", "--prefix")
		t.Logf("--- %s pods:\n%s", sel, out)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return l
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
