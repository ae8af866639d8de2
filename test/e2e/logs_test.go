package e2e

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// checkJSONLogs asserts that every line the named components logged (started with
// --logging-format=json) is one JSON object with a message, so that a log pipeline
// can take the controller pod's output without parsing rules.
func (e *env) checkJSONLogs(t *testing.T, components ...string) {
	t.Helper()
	for _, c := range components {
		f, err := os.Open(filepath.Join(e.work, "logs", c+".log"))
		if err != nil {
			t.Errorf("%s log: %v", c, err)
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
		lines, bad := 0, 0
		for sc.Scan() {
			if len(sc.Bytes()) == 0 {
				continue
			}
			lines++
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil || m["msg"] == nil {
				if bad++; bad <= 3 {
					t.Errorf("%s logged a line that is not a JSON object with msg: %.300s", c, sc.Text())
				}
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			t.Errorf("%s log: %v", c, err)
		}
		if lines == 0 {
			t.Errorf("%s logged nothing", c)
		}
		t.Logf("%s: %d JSON log lines, %d not JSON", c, lines, bad)
	}
}
