package realcinder

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kubernetes-csi/csi-test/v5/pkg/sanity"
	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
	"github.com/onsi/gomega"
)

// skippedOnRealCinder names the sanity cases that cannot apply here, with why.
var skippedOnRealCinder = map[string]string{
	"should fail when the node does not exist": "the Cinder-attachments path has no host registry: Cinder cannot tell an unknown host from a new one",
}

type ids struct{}

func uuid() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
func (ids) GenerateUniqueValidVolumeID() string { return uuid() }
func (ids) GenerateInvalidVolumeID() string     { return "not-a-cinder-id" }
func (ids) GenerateUniqueValidNodeID() string   { return "node-" + uuid()[:8] }
func (ids) GenerateInvalidNodeID() string       { return "not a host name" }

// TestSanityRealCinder runs csi-sanity against the driver on the real local Cinder,
// through the Cinder-attachments path with real loop devices and mounts.
func TestSanityRealCinder(t *testing.T) {
	requireTestBed(t)
	c := client(t, "local")
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const node = "sanity-real-node"
	before := inventory(t, c)
	conn, stop, err := StartDriver(ctx, c, dir, node, 3)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	defer func() {
		if err := stop(); err != nil {
			t.Errorf("driver: %v", err)
		}
	}()

	cfg := sanity.NewTestConfig()
	cfg.Address = "unix://" + filepath.Join(dir, "csi.sock")
	cfg.TargetPath = filepath.Join(dir, "target")
	cfg.StagingPath = filepath.Join(dir, "staging")
	cfg.IdempotentCount = 3
	cfg.TestVolumeSize = 1 << 30
	cfg.TestVolumeExpandSize = 2 << 30
	cfg.TestVolumeParameters = map[string]string{"type": "standard"}
	cfg.TestVolumeMutableParameters = map[string]string{"type": "fast"}
	cfg.TestNodeVolumeAttachLimit = true
	cfg.IDGen = ids{}
	cfg.TestInvalidListVolumesStartingToken = "not-a-token"

	sanity.GinkgoTest(&cfg)
	gomega.RegisterFailHandler(ginkgo.Fail)
	suite, reporter := ginkgo.GinkgoConfiguration()
	for name := range skippedOnRealCinder {
		suite.SkipStrings = append(suite.SkipStrings, name)
	}
	suite.Timeout = 40 * time.Minute
	reporter.Succinct = true
	reporter.JSONReport = filepath.Join(dir, "report.json")
	start := time.Now()
	ginkgo.RunSpecs(t, "CSI sanity: real Cinder, Cinder-attachments path, real mounts", suite, reporter)
	summarize(t, reporter.JSONReport, time.Since(start))
	// Nothing sanity made (all its names start with these) may be left in Cinder.
	for _, prefix := range []string{"sanity", "listSnapshots", "getSnapshot", "DeleteSnapshot", "CreateSnapshot", "volume1", "listVolumes"} {
		assertNothingLeft(t, c, prefix, before)
	}
}

func summarize(t *testing.T, path string, took time.Duration) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading the ginkgo report: %v", err)
	}
	var reports []types.Report
	if err := json.Unmarshal(raw, &reports); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, r := range reports {
		for _, s := range r.SpecReports {
			if s.LeafNodeType != types.NodeTypeIt {
				continue
			}
			counts[s.State.String()]++
			if s.State == types.SpecStateSkipped {
				why := s.Failure.Message
				if why == "" {
					why = skippedOnRealCinder[s.LeafNodeText]
				}
				fmt.Printf("real-cinder sanity skipped: %s: %s\n", s.FullText(), why)
			}
		}
	}
	fmt.Printf("real-cinder sanity: %d passed, %d failed, %d skipped, %d pending in %s\n",
		counts["passed"], counts["failed"]+counts["panicked"]+counts["interrupted"]+counts["timedout"], counts["skipped"], counts["pending"], took.Round(time.Second))
}
