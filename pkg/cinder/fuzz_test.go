package cinder

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoadConfig: any clouds.yaml or cloud.conf content is read without a panic, and an
// error about it never shows the password it holds.
func FuzzLoadConfig(f *testing.F) {
	f.Add("clouds:\n  openstack:\n    auth:\n      auth_url: http://127.0.0.1:5000/v3\n      username: u\n      password: fuzz-S3cret\n      project_name: p\n      user_domain_name: Default\n", "")
	f.Add("[Global]\nauth-url=http://127.0.0.1:5000/v3\nusername=u\npassword=fuzz-S3cret\ntenant-name=p\ndomain-name=Default\n[BlockStorage]\nnode-volume-attach-limit=x\n", "")
	f.Add("clouds: [", "openstack")
	f.Add("[Global\npassword=fuzz-S3cret", "")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, content, cloud string) {
		p := filepath.Join(dir, "cloud-config")
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadConfig(p, cloud)
		if err != nil && strings.Contains(content, "fuzz-S3cret") && strings.Contains(err.Error(), "fuzz-S3cret") {
			t.Fatalf("the error shows the password: %v", err)
		}
	})
}
