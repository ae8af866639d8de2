// Package sanityrun runs csi-test's sanity suite the way this project's suites want
// it: our ID shapes, IdempotentCount 3, the expansion, mutable-parameter and
// attach-limit cases on, named skips with reasons, and a one-line summary.
package sanityrun

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kubernetes-csi/csi-test/v5/pkg/sanity"
	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
	"github.com/onsi/gomega"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder/fake"
)

// IDs makes the IDs the driver accepts: Cinder UUIDs, and host-name node IDs (the
// Cinder-attachments path).
type IDs struct{}

// UUID returns a random version-4 UUID (the fake cloud's generator: one for all tests).
func UUID() string { return fake.NewID() }

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

// DriverSkips are the run-time skip messages of csi-sanity for what this driver does
// not advertise on any path, with why.
var DriverSkips = map[string]string{
	"ControllerPublishVolume.readonly field not supported": "Cinder attaches read-write; read-only is a mount option on the node",
}

// UpstreamBugs are cases of the pinned csi-test that fail every driver doing what
// they test; each run leaves them out by name (Run, SkipFlags), with why.
var UpstreamBugs = map[string]string{
	"should succeed when creating a snapshot with accessibility requirements": "csi-test v5.6.0 compares the snapshot's reported topology with gomega.Equal (reflect.DeepEqual) against a message it had marshalled, whose size cache is set, so any driver that reports where a snapshot is usable from fails it; pkg/driver TestSnapshotZones and realcinder TestTopology prove that instead",
}

// SkipFlags are the csi-sanity binary's flags that leave out UpstreamBugs.
func SkipFlags() []string {
	var out []string
	for name := range UpstreamBugs {
		out = append(out, "-ginkgo.skip="+regexp.QuoteMeta(name))
	}
	return out
}

// Want is what a run must show, so that a capability the driver loses cannot turn its
// cases into silent skips: at least MinPassed passed cases, and exactly the skips listed.
// Named are cases left out by name (leaf text → why); Messages are the skip messages
// csi-sanity gives at run time for what the driver does not advertise (message → why).
// A skip in neither, and an entry no case used, fail the run.
type Want struct {
	MinPassed int
	Named     map[string]string
	Messages  map[string]string
}

// Run runs the suite, skipping the cases in want.Named, prints
// "<label>: N passed, N failed, N skipped, N pending in D" and every skip with why, and
// fails the test unless the run shows what want says.
func Run(t *testing.T, cfg sanity.TestConfig, label string, want Want, timeout time.Duration) {
	t.Helper()
	sanity.GinkgoTest(&cfg)
	gomega.RegisterFailHandler(ginkgo.Fail)
	suite, reporter := ginkgo.GinkgoConfiguration()
	for name := range withUpstreamBugs(want.Named) {
		suite.SkipStrings = append(suite.SkipStrings, name)
	}
	suite.Timeout = timeout
	reporter.Succinct = true
	reporter.JSONReport = filepath.Join(t.TempDir(), "report.json")
	start := time.Now()
	ginkgo.RunSpecs(t, "CSI sanity: "+label, suite, reporter)
	raw, err := os.ReadFile(reporter.JSONReport)
	if err != nil {
		t.Fatalf("reading the ginkgo report: %v", err)
	}
	var reports []types.Report
	if err := json.Unmarshal(raw, &reports); err != nil {
		t.Fatalf("parsing the ginkgo report: %v", err)
	}
	for _, problem := range Check(reports, label, want, time.Since(start)) {
		t.Error(problem)
	}
}

func withUpstreamBugs(named map[string]string) map[string]string {
	out := maps.Clone(UpstreamBugs)
	maps.Copy(out, named)
	return out
}

// Check prints the summary of a run and returns how it differs from want.
func Check(reports []types.Report, label string, want Want, took time.Duration) []string {
	want.Named = withUpstreamBugs(want.Named)
	counts := map[string]int{}
	used := map[string]bool{}
	var problems []string
	unexplained := 0
	for _, r := range reports {
		for _, s := range r.SpecReports {
			if s.LeafNodeType != types.NodeTypeIt {
				continue
			}
			counts[s.State.String()]++
			if s.State.Is(types.SpecStateFailureStates) {
				msg, _, _ := strings.Cut(s.Failure.Message, "\n")
				problems = append(problems, fmt.Sprintf("%s: %q %s: %s", label, s.FullText(), s.State, msg))
			}
			if s.State != types.SpecStateSkipped {
				continue
			}
			msg := s.Failure.Message
			why, named := want.Named[s.LeafNodeText]
			switch reason, known := want.Messages[msg]; {
			case msg == "" && named:
				used["named: "+s.LeafNodeText] = true
			case msg != "" && known:
				why = msg + " (" + reason + ")"
				used["message: "+msg] = true
			default:
				why = msg
				unexplained++
				problems = append(problems, fmt.Sprintf("%s: %q skipped for a reason nobody explained: %q", label, s.FullText(), msg))
			}
			fmt.Printf("%s skipped: %s: %s\n", label, s.FullText(), why)
		}
	}
	for name := range want.Named {
		if !used["named: "+name] {
			problems = append(problems, fmt.Sprintf("%s: the named skip %q matched no case: remove it", label, name))
		}
	}
	for msg := range want.Messages {
		if !used["message: "+msg] {
			problems = append(problems, fmt.Sprintf("%s: no case skipped with %q any more: remove it from the expected skips", label, msg))
		}
	}
	failed := counts["failed"] + counts["panicked"] + counts["interrupted"] + counts["timedout"] + counts["aborted"]
	if counts["passed"] < want.MinPassed {
		problems = append(problems, fmt.Sprintf("%s: %d cases passed, at least %d must", label, counts["passed"], want.MinPassed))
	}
	if failed > 0 {
		problems = append(problems, fmt.Sprintf("%s: %d cases failed", label, failed))
	}
	fmt.Printf("%s: %d passed (at least %d must), %d failed, %d skipped (all explained: %t), %d pending (not yet enabled upstream) in %s\n", label,
		counts["passed"], want.MinPassed, failed, counts["skipped"], unexplained == 0,
		counts["pending"], took.Round(time.Second))
	sort.Strings(problems)
	return problems
}
