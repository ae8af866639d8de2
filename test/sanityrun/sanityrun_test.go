package sanityrun

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/onsi/ginkgo/v2/types"
)

func spec(text string, state types.SpecState, msg string) types.SpecReport {
	return types.SpecReport{LeafNodeType: types.NodeTypeIt, LeafNodeText: text, State: state, Failure: types.Failure{Message: msg}}
}

// Check is what makes a sanity run fail when a capability silently turns into skips.
func TestCheck(t *testing.T) {
	want := Want{MinPassed: 2, Named: map[string]string{"named case": "why"}, Messages: map[string]string{"X not supported": "no X"}}
	ok := []types.SpecReport{
		spec("a", types.SpecStatePassed, ""), spec("b", types.SpecStatePassed, ""),
		spec("named case", types.SpecStateSkipped, ""), spec("c", types.SpecStateSkipped, "X not supported"),
	}
	tests := []struct {
		name  string
		specs []types.SpecReport
		want  []string // substrings of the problems, in order
	}{
		{"as expected", ok, nil},
		{"a new skip", append(ok, spec("d", types.SpecStateSkipped, "Y not supported")), []string{`for a reason nobody explained: "Y not supported"`}},
		{"too few passed", append([]types.SpecReport{ok[0]}, ok[2:]...), []string{"1 cases passed, at least 2 must"}},
		{"an expected skip message no longer seen", ok[:3], []string{`no case skipped with "X not supported"`}},
		{"a named skip that matched nothing", append(ok[:2:2], ok[3]), []string{`the named skip "named case" matched no case`}},
		{"a failure", append(ok, spec("e", types.SpecStateFailed, "boom\nat line 3")), []string{`"e" failed: boom`, "1 cases failed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			specs := slices.Clone(tt.specs)
			for name := range UpstreamBugs { // every run leaves them out by name
				specs = append(specs, spec(name, types.SpecStateSkipped, ""))
			}
			got := Check([]types.Report{{SpecReports: specs}}, "test", want, time.Second)
			if len(got) != len(tt.want) {
				t.Fatalf("problems = %q, want %d", got, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("problem %d = %q, want it to say %q", i, got[i], w)
				}
			}
		})
	}
}
