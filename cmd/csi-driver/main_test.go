package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cinder-csi/cinder-csi-driver/pkg/driver"
)

// Start-up failures must say what to fix.
func TestStartupFailures(t *testing.T) {
	dir := t.TempDir()
	badINI := filepath.Join(dir, "cloud.conf")
	if err := os.WriteFile(badINI, []byte("[Global]\nusername = u\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		change func(*driver.Options)
		want   string
	}{
		{"bad mode", func(o *driver.Options) { o.Mode = "both" }, "--mode"},
		{"missing cloud config", func(o *driver.Options) {
			o.Mode, o.CloudConfig = driver.ModeController, filepath.Join(dir, "nope.yaml")
		}, "nope.yaml"},
		{"incomplete cloud.conf", func(o *driver.Options) { o.Mode, o.CloudConfig = driver.ModeController, badINI }, "auth-url"},
		{"ephemeral node without credentials", func(o *driver.Options) {
			o.Mode, o.Attacher, o.NodeID, o.Ephemeral = driver.ModeNode, driver.AttacherCinder, "worker-1", true
			o.CloudConfig = filepath.Join(dir, "nope.yaml")
		}, "--ephemeral needs credentials on the node"},
		{"ephemeral on a controller", func(o *driver.Options) { o.Mode, o.Ephemeral = driver.ModeController, true }, "drop it with --mode controller"},
		{"node without identity", func(o *driver.Options) {
			o.Mode, o.Attacher, o.MetadataURL, o.MetadataSearchOrder = driver.ModeNode, driver.AttacherCinder, "http://127.0.0.1:1", "metadataService"
		}, "--node-id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o driver.Options
			o.AddFlags(flag.NewFlagSet("t", flag.ContinueOnError))
			o.Endpoint = "unix://" + filepath.Join(dir, "csi.sock")
			tt.change(&o)
			err := run(o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("run() = %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}
