// Package sanityrun runs csi-test's sanity suite the way this project's suites want
// it: our ID shapes, IdempotentCount 3, the expansion, mutable-parameter and
// attach-limit cases on, named skips with reasons, and a one-line summary.
package sanityrun

import (
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

// IDs makes the IDs the driver accepts: Cinder UUIDs, and host-name node IDs (the
// Cinder-attachments path).
type IDs struct{}

// UUID returns a random version-4 UUID.
func UUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func (IDs) GenerateUniqueValidVolumeID() string { return UUID() }
func (IDs) GenerateInvalidVolumeID() string     { return "not-a-cinder-id" }
func (IDs) GenerateUniqueValidNodeID() string   { return "node-" + UUID()[:8] }
func (IDs) GenerateInvalidNodeID() string       { return "not a host name" }

// Config is the sanity configuration for a driver listening on sock, with its paths
// under dir.
func Config(dir, sock string) sanity.TestConfig {
	cfg := sanity.NewTestConfig()
	cfg.Address = "unix://" + sock
	cfg.TargetPath = filepath.Join(dir, "target")
	cfg.StagingPath = filepath.Join(dir, "staging")
	cfg.IdempotentCount = 3
	cfg.TestVolumeSize = 1 << 30
	cfg.TestVolumeExpandSize = 2 << 30
	cfg.TestVolumeParameters = map[string]string{"type": "standard"}
	cfg.TestVolumeMutableParameters = map[string]string{"type": "fast"}
	cfg.TestNodeVolumeAttachLimit = true
	cfg.IDGen = IDs{}
	cfg.TestInvalidListVolumesStartingToken = "not-a-token"
	return cfg
}

// Run runs the suite, skipping the cases in skip (name → reason), and prints
// "<label>: N passed, N failed, N skipped, N pending in D" and every skip with why.
func Run(t *testing.T, cfg sanity.TestConfig, label string, skip map[string]string, timeout time.Duration) {
	t.Helper()
	sanity.GinkgoTest(&cfg)
	gomega.RegisterFailHandler(ginkgo.Fail)
	suite, reporter := ginkgo.GinkgoConfiguration()
	for name := range skip {
		suite.SkipStrings = append(suite.SkipStrings, name)
	}
	suite.Timeout = timeout
	reporter.Succinct = true
	reporter.JSONReport = filepath.Join(t.TempDir(), "report.json")
	start := time.Now()
	ginkgo.RunSpecs(t, "CSI sanity: "+label, suite, reporter)
	summarize(t, reporter.JSONReport, label, skip, time.Since(start))
}

func summarize(t *testing.T, path, label string, skip map[string]string, took time.Duration) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading the ginkgo report: %v", err)
	}
	var reports []types.Report
	if err := json.Unmarshal(raw, &reports); err != nil {
		t.Fatalf("parsing the ginkgo report: %v", err)
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
					why = skip[s.LeafNodeText]
				}
				fmt.Printf("%s skipped: %s: %s\n", label, s.FullText(), why)
			}
		}
	}
	fmt.Printf("%s: %d passed, %d failed, %d skipped, %d pending (not yet enabled upstream) in %s\n", label,
		counts["passed"], counts["failed"]+counts["panicked"]+counts["interrupted"]+counts["timedout"],
		counts["skipped"], counts["pending"], took.Round(time.Second))
}
