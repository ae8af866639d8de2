package testbed

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// StoredConnector returns the connector Cinder keeps for an attachment: what the
// backend was told of the node (host, ip, initiator). Cinder's API shows it to
// nobody, so it is read from the test bed's database, with the mariadb client on the
// bed's socket ($CINDER_TEST_BASE/mysql, as test/cinder/lib.sh).
func StoredConnector(ctx context.Context, attachmentID string) (map[string]any, error) {
	if !uuidRE.MatchString(attachmentID) {
		return nil, fmt.Errorf("attachment ID %q is not a UUID", attachmentID)
	}
	base := os.Getenv("CINDER_TEST_BASE")
	if base == "" {
		base = "/var/lib/cinder-csi-test"
	}
	out, err := exec.CommandContext(ctx, "mariadb", "--no-defaults", "-uroot", "--socket="+filepath.Join(base, "mysql", "mysqld.sock"),
		"-N", "-B", "-r", "-e", "SELECT connector FROM cinder.volume_attachment WHERE id = '"+attachmentID+"'").Output()
	if err != nil {
		return nil, fmt.Errorf("reading attachment %s from Cinder's database: %w", attachmentID, err)
	}
	var conn map[string]any
	if err := json.Unmarshal(out, &conn); err != nil {
		return nil, fmt.Errorf("attachment %s: Cinder's database holds connector %q: %v", attachmentID, out, err)
	}
	return conn, nil
}
