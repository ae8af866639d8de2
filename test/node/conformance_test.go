package node

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/onsi/ginkgo/v2/types"

	"github.com/cinder-csi/cinder-csi-driver/test/sanityrun"
)

// Kubernetes' own storage suite (test/e2e/storage/external of k8s.io/kubernetes, built
// as e2e.test) against the chart on the real node, with the driver definition in
// test/conformance/driver.yaml. CONFORMANCE_FOCUS and CONFORMANCE_SKIP replace the
// focus (focusedSpecs) and skip (defaultSkip) regular expressions; CONFORMANCE_PROCS the number of parallel ginkgo
// processes; CONFORMANCE_MIN_PASSED the least number of specs that must pass;
// CONFORMANCE_TIMEOUT ginkgo's --timeout (3h).
const (
	// defaultSkip: what this one-machine bed cannot run. [Disruptive] specs stop kubelet
	// or nodes under the suite's control. ([Serial] ones run: ginkgo runs them alone, after
	// the parallel ones.) "should not mount / map unused volumes" checks the node's
	// directories through the suite's host-exec pod, which enters the mount namespace of
	// the host's PID 1 (nsenter --mount=/proc/1/ns/mnt): PID 1 of this VM is its own
	// init, which refuses that even to root ("Permission denied").
	// "the volume and its clone from pods on the same node" clones the volume while the
	// first pod uses it: the bed's backend (Cinder's NFS driver) clones only detached
	// volumes, so the chart runs with snapshotInUse=false and the driver refuses the clone
	// with FailedPrecondition until the source is detached, which this spec never does.
	// "provisioning should provision correct filesystem size when restoring snapshot to
	// larger size pvc" leaves the source's pod running until its namespace goes, after
	// its cleanup has deleted the snapshot and waited 5 minutes for it: on this backend
	// the driver refuses to delete a snapshot of an attached volume (it would end in
	// error_deleting), so the wait cannot end. On a backend that clones attached volumes
	// and deletes their snapshots (Ceph, LVM), set snapshotInUse=true and run both
	// (docs/conformance.md). "provisioning should provision storage with any volume data
	// source" needs a volume populator (its controller and the hello-populator image),
	// which this machine, without a registry, does not have.
	defaultSkip = `\[Disruptive\]|volumeMode should not mount / map unused volumes in a pod|multiVolume should concurrently access the volume and its clone from pods on the same node|provisioning should provision correct filesystem size when restoring snapshot to larger size pvc|provisioning should provision storage with any volume data source`
)

// focusedSpecs: every capability test/conformance/driver.yaml declares exercised at
// least once, mostly on the default filesystem (the whole suite: make conformance).
var focusedSpecs = []string{
	"[Testpattern: Dynamic PV (default fs)] provisioning should provision storage with mount options",
	"[Testpattern: Dynamic PV (default fs)] provisioning should provision storage with pvc data source",
	"[Testpattern: Dynamic PV (default fs)] provisioning should provision storage with snapshot data source [Feature:VolumeSnapshotDataSource]",
	"[Testpattern: Dynamic PV (default fs)] volumes should store data",
	"[Testpattern: Dynamic PV (default fs)] volumes should allow exec of files on the volume",
	"[Testpattern: Dynamic PV (xfs)] volumes should store data",
	"[Testpattern: Dynamic PV (block volmode)] volumes should store data",
	"[Testpattern: Dynamic PV (block volmode)] multiVolume should access to two volumes with the same volume mode and retain data across pod recreation on the same node",
	"[Testpattern: Dynamic PV (default fs)] volumeIO should write files of various sizes, verify size, validate content",
	"[Testpattern: Dynamic PV (default fs)] subPath should support existing directory",
	"[Testpattern: Dynamic Snapshot (delete policy)] snapshottable [Feature:VolumeSnapshotDataSource] volume snapshot controller  should check snapshot fields, check restore correctly works after modifying source data, check deletion (persistent)",
	"[Testpattern: Dynamic PV (default fs)(allowExpansion)] volume-expand Verify if offline PVC expansion works",
	"[Testpattern: Dynamic PV (default fs)(allowExpansion)] volume-expand should resize volume when PVC is edited and the pod is re-created on the same node",
	"[Testpattern: Dynamic PV (default fs)] volume-expand should not allow expansion of pvcs without AllowVolumeExpansion property",
	"[Testpattern: Dynamic PV (ext4)] multiVolume should access to two volumes with the same volume mode and retain data across pod recreation on the same node",
	"[Testpattern: Dynamic PV (default fs)] read-write-once-pod should block a second pod from using an in-use ReadWriteOncePod volume on the same node",
	"[Testpattern: Dynamic PV (filesystem volmode)] volumeLimits should verify that all csinodes have volume limits",
	"[Testpattern: Dynamic PV (delayed binding)] topology should provision a volume and schedule a pod with AllowedTopologies",
	"[Testpattern: Dynamic PV (default fs)] fsgroupchangepolicy (OnRootMismatch)[LinuxOnly], pod created with an initial fsgroup, new pod fsgroup applied to volume contents",
	"[Testpattern: CSI Ephemeral-volume (default fs)] ephemeral should create read/write inline ephemeral volume",
	"[Testpattern: Generic Ephemeral-volume (default fs) (late-binding)] ephemeral should create read/write inline ephemeral volume",
}

func focusedFocus() string {
	q := make([]string, len(focusedSpecs))
	for i, s := range focusedSpecs {
		q[i] = regexp.QuoteMeta(s)
	}
	return `External.Storage.*(` + strings.Join(q, "|") + `)`
}

// explainedSkips are the messages with which a focused spec may skip itself at run
// time, each for a reason the project states: a capability driver.yaml leaves out (and
// says why), or a rule of the suite for what driver.yaml declares. Any other skip fails.
var explainedSkips = []*regexp.Regexp{
	// capReadOnlyMany is not declared: a Cinder volume attaches to one node.
	regexp.MustCompile(`^Driver "cinder\.csi\.openstack\.org" does not support ROX access mode - skipping$`),
	// The test bed's NFS backend cannot extend attached volumes (expandInUse=false).
	regexp.MustCompile(`^Driver "cinder\.csi\.openstack\.org" does not support online volume expansion - skipping$`),
	// The suite's rule once topology is declared: immediate binding only without it.
	regexp.MustCompile(`^VolumeBindingMode immediate is not compatible with a multi-topology environment\.$`),
	// Rules of the suite itself for the patterns it combines (seen in the whole run).
	regexp.MustCompile(`^(Block volumes do not support mount options|Test is not valid for Block volume mode|Filesystem volume case should be covered by block volume case) -- ?skipping$|^Block volumes do not support mount options - skipping$|^Test is not valid for Block volume mode - skipping$`),
	regexp.MustCompile(`^(raw block volumes cannot be read-only|skipping multiple PV mount test for block mode|Skipping CSIInlineVolume test for expansion)$`),
	regexp.MustCompile(`^volume type "[A-Za-z]+" is (not )?ephemeral$`),
	// multiplePVsSameID is not declared.
	regexp.MustCompile(`^this driver does not support multiple PVs with the same volumeHandle$`),
	// singleNodeVolume is declared: the suite then skips its multi-node variants.
	regexp.MustCompile(`^Driver cinder\.csi\.openstack\.org only supports singleNodeVolume -- skipping$`),
	regexp.MustCompile(`^Driver cinder\.csi\.openstack\.org doesn't support RWX -- skipping$`),
	// The multiVolume filesystem-volmode variant that needs a snapshot class of its pattern.
	regexp.MustCompile(`^Driver "cinder\.csi\.openstack\.org" does not support snapshots - skipping$`),
	// The suite's rule once topology is declared: several generic ephemeral volumes with
	// immediate binding could land in different zones.
	regexp.MustCompile(`^Multiple generic ephemeral volumes with immediate binding may cause pod startup failures when the volumes get created in separate topology segments\.$`),
	// The [Serial] scale specs measure a cloud's provisioning and deletion rate; driver.yaml
	// sets no PerformanceTestOptions for one VM.
	regexp.MustCompile(`^Driver cinder\.csi\.openstack\.org doesn't specify performance test options -- skipping$`),
	// A rule of the suite: its "any volume data source" spec has no block variant.
	regexp.MustCompile(`^Test for Block volumes is not implemented - skipping$`),
	// The bed has one zone; the conflict specs need two.
	regexp.MustCompile(`^Not enough topologies in cluster -- skipping$`),
	// One node here; the multi-node variants need two.
	regexp.MustCompile(`(?i)^(Number of available nodes is less than 2|Requires at least 2 nodes|need at least 2 nodes)`),
	// RWX is not declared: a filesystem on two nodes at once would be corrupted.
	regexp.MustCompile(`^Driver "cinder\.csi\.openstack\.org" does not support (RWX|ReadWriteMany)`),
	// No VolumeAttributesClass in driver.yaml (the suite's modify tests need a class
	// whose change the backend can apply while attached; NFS cannot retype in use).
	regexp.MustCompile(`^Driver "cinder\.csi\.openstack\.org" has no configured VolumeAttributesClass - skipping$`),
}

// TestUpstreamStorage runs the focused part (make test) or, with
// CONFORMANCE_FOCUS=External.Storage, the whole suite (make conformance).
func TestUpstreamStorage(t *testing.T) {
	skip := sanityrun.Missing(t, "REQUIRE_CONFORMANCE")
	bin := os.Getenv("E2E_BIN")
	if _, err := os.Stat(filepath.Join(bin, "e2e.test")); err != nil {
		skip("no e2e.test in E2E_BIN: run make conformance-tools")
	}
	focus, skipRe := envOr("CONFORMANCE_FOCUS", focusedFocus()), envOr("CONFORMANCE_SKIP", defaultSkip)
	procs, _ := strconv.Atoi(envOr("CONFORMANCE_PROCS", "3"))
	minPassed, _ := strconv.Atoi(envOr("CONFORMANCE_MIN_PASSED", "20"))
	e := setUp(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Hour)
	defer cancel()

	report := filepath.Join(work, "conformance", "report.json")
	must(t, os.MkdirAll(filepath.Dir(report), 0o755))
	// ginkgo's own timeout ends a long run with its report written.
	args := []string{"--procs=" + strconv.Itoa(procs), "--focus=" + focus, "--skip=" + skipRe, "--timeout=" + envOr("CONFORMANCE_TIMEOUT", "3h"),
		"--json-report=report.json", "--output-dir=" + filepath.Dir(report), "--no-color", "--silence-skips",
		filepath.Join(bin, "e2e.test"), "--",
		"--kubeconfig=" + e.k.Kubeconfig, "--storage.testdriver=" + filepath.Join(e.repo, "test", "conformance", "driver.yaml"),
		"--provider=skeleton", "--report-dir=" + filepath.Dir(report), "--disable-log-dump"}
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "ginkgo"), args...)
	logf, err := os.Create(filepath.Join(filepath.Dir(report), "ginkgo.log"))
	must(t, err)
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "KUBECONFIG="+e.k.Kubeconfig)
	start := time.Now()
	runErr := cmd.Run()
	took := time.Since(start)

	data, err := os.ReadFile(report)
	if err != nil {
		log, _ := os.ReadFile(logf.Name())
		t.Fatalf("ginkgo wrote no report (%v; run: %v):\n%s", err, runErr, tail(string(log), 40))
	}
	var reports []types.Report
	must(t, json.Unmarshal(data, &reports))
	var passed, failed []string
	skipped := map[string][]string{}
	for _, r := range reports {
		for _, s := range r.SpecReports {
			if s.LeafNodeType != types.NodeTypeIt {
				continue
			}
			name := s.FullText()
			switch s.State {
			case types.SpecStatePassed:
				passed = append(passed, name)
			case types.SpecStateSkipped:
				if msg := strings.TrimSpace(s.Failure.Message); msg != "" { // skipped at run time, not by the filters
					skipped[firstLine(msg)] = append(skipped[firstLine(msg)], name)
				}
			case types.SpecStatePending:
			default:
				failed = append(failed, name+": "+firstLine(s.Failure.Message))
			}
		}
	}
	reasons := make([]string, 0, len(skipped))
	for r := range skipped {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	nSkipped := 0
	for _, r := range reasons {
		nSkipped += len(skipped[r])
		fmt.Printf("conformance-skip: %3d  %s\n", len(skipped[r]), r)
		if !explained(r) {
			t.Errorf("%d specs skipped for a reason nobody explained: %q (e.g. %s)", len(skipped[r]), r, skipped[r][0])
		}
	}
	for _, f := range failed {
		t.Errorf("failed: %s", f)
	}
	shown := fmt.Sprintf("%q", focus)
	if os.Getenv("CONFORMANCE_FOCUS") == "" {
		shown = fmt.Sprintf("the %d focused specs", len(focusedSpecs))
	}
	fmt.Printf("conformance: %d passed, %d failed, %d skipped in %v (focus %s, skip %q, %d processes)\n",
		len(passed), len(failed), nSkipped, took.Round(time.Second), shown, skipRe, procs)
	if len(passed) < minPassed {
		t.Errorf("%d specs passed, want at least %d", len(passed), minPassed)
	}
	if runErr != nil && len(failed) == 0 {
		log, _ := os.ReadFile(logf.Name())
		t.Errorf("ginkgo: %v with no failed spec:\n%s", runErr, tail(string(log), 40))
	}
}

func explained(reason string) bool {
	for _, re := range explainedSkips {
		if re.MatchString(reason) {
			return true
		}
	}
	return false
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
