package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v2"

	"github.com/cinder-csi/cinder-csi-driver/test/internal/testbed"
)

// secretKeys are the clouds.yaml fields that hold credentials.
var secretKeys = map[string]bool{"password": true, "application_credential_secret": true, "token": true}

// bedSecrets are the secrets this run's processes hold: every credential of the test
// bed's clouds.yaml and the publish key. None may be in a log line (the drivers run at
// -v=10) or a VolumeAttachment.
func bedSecrets(t *testing.T) []string {
	t.Helper()
	path, err := testbed.CloudsFile()
	must(t, err)
	raw, err := os.ReadFile(path)
	must(t, err)
	var doc any
	must(t, yaml.Unmarshal(raw, &doc))
	out := []string{testbed.PublishKey}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[any]any:
			for k, x := range v {
				if s, ok := x.(string); ok && secretKeys[fmt.Sprint(k)] && len(s) >= 8 {
					out = append(out, s)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(doc)
	if len(out) < 3 {
		t.Fatalf("found %d secrets in %s and the publish key; want the password and the application credential secret too", len(out), path)
	}
	return out
}

// checkNoSecrets fails for every log file of the run and every VolumeAttachment seen
// (e.attachments) that holds one of the bed's secrets, naming where, never the secret.
func (e *env) checkNoSecrets(t *testing.T) {
	t.Helper()
	secrets := bedSecrets(t)
	logs, err := filepath.Glob(filepath.Join(e.work, "logs", "*.log"))
	must(t, err)
	if len(logs) < 5 {
		t.Fatalf("only %d log files in %s/logs: the check would prove nothing", len(logs), e.work)
	}
	where := map[string][]byte{}
	for _, l := range logs {
		data, err := os.ReadFile(l)
		must(t, err)
		where["log "+filepath.Base(l)] = data
	}
	if len(e.attachments) == 0 {
		t.Fatal("no VolumeAttachment was recorded: the check would prove nothing")
	}
	for i, va := range e.attachments {
		raw, err := json.Marshal(va)
		must(t, err)
		where[fmt.Sprintf("VolumeAttachment #%d", i)] = raw
	}
	for name, data := range where {
		for i, s := range secrets {
			if strings.Contains(string(data), s) {
				t.Errorf("%s holds secret #%d of the test bed (clouds.yaml credentials, publish key)", name, i)
			}
		}
	}
	t.Logf("no secret in %d log files and %d VolumeAttachments (%d secrets looked for)", len(logs), len(e.attachments), len(secrets))
}
