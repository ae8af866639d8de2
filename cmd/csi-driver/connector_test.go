package main

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/cinder-csi/cinder-csi-driver/pkg/driver"
)

func TestNodeConnector(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "initiatorname.iscsi")
	if err := os.WriteFile(file, []byte("## generated\nInitiatorName=iqn.1993-08.org.debian:01:abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	unreadable := filepath.Join(dir, "a-directory")
	if err := os.Mkdir(unreadable, 0o700); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name          string
		ip, file      string
		wantIP        string
		wantInitiator string
		wantErr       bool
	}{
		{"flag and file", "192.0.2.7", file, "192.0.2.7", "iqn.1993-08.org.debian:01:abcdef", false},
		{"no open-iscsi on the node", "192.0.2.7", filepath.Join(dir, "missing"), "192.0.2.7", "", false},
		{"unreadable file stops the start", "192.0.2.7", unreadable, "", "", true},
		{"no flag: an address of this machine", "", file, "", "iqn.1993-08.org.debian:01:abcdef", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ip, initiator, err := nodeConnector(driver.Options{NodeIP: tc.ip, InitiatorFile: tc.file})
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if initiator != tc.wantInitiator {
				t.Errorf("initiator %q, want %q", initiator, tc.wantInitiator)
			}
			if tc.wantIP != "" && ip != tc.wantIP {
				t.Errorf("ip %q, want %q", ip, tc.wantIP)
			}
			if tc.ip == "" && ip != "" && !isLocalAddress(t, ip) {
				t.Errorf("ip %q is not an address of this machine", ip)
			}
		})
	}
}

func isLocalAddress(t *testing.T, ip string) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.String() == ip {
			return true
		}
	}
	return false
}
