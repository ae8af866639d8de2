package cinder

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// go-ini quotes a line it cannot parse; a cloud.conf error must not (found by
// FuzzLoadConfig): the line may be a password without its "=".
func TestINIParseErrorHidesTheLine(t *testing.T) {
	tests := []struct{ content, want string }{
		{"[Global]\npassword hunter2-S3cret\n", "line 2 is not key = value"},
		{"[Global\npassword=hunter2-S3cret\n", "line 1 opens a section without closing it"},
	}
	for _, tt := range tests {
		p := filepath.Join(t.TempDir(), "cloud.conf")
		if err := os.WriteFile(p, []byte(tt.content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadConfig(p, "")
		if err == nil {
			t.Fatalf("%q was accepted", tt.content)
		}
		if strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("error %q: want it to say %q and not show the password", err, tt.want)
		}
	}
}
