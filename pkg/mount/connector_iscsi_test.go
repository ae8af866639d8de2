package mount

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	utilexec "k8s.io/utils/exec"
)

// The iscsiadm outputs below were recorded from open-iscsi 2.1 (Debian bookworm)
// against a LIO target; this kernel has no iSCSI initiator to run them again.

const (
	testIQN    = "iqn.2010-10.org.openstack:volume-" + volID
	testPortal = "192.0.2.10:3260"
	testSecret = "s3cr3t-CHAP-pass"
)

func iscsiadm(args ...string) []string { return append([]string{"iscsiadm"}, args...) }

func iscsiNode(portal string, args ...string) []string {
	return iscsiadm(append([]string{"-m", "node", "-T", testIQN, "-p", portal}, args...)...)
}

func loginOK(portal string) string {
	p := strings.Replace(portal, ":", ",", 1)
	return "Logging in to [iface: default, target: " + testIQN + ", portal: " + p + "]\n" +
		"Login to [iface: default, target: " + testIQN + ", portal: " + p + "] successful.\n"
}

func loginFailed(portal string, status int, reason string) run {
	p := strings.Replace(portal, ":", ",", 1)
	return run{
		argv:   iscsiNode(portal, "--login"),
		stdout: "Logging in to [iface: default, target: " + testIQN + ", portal: " + p + "]\n",
		stderr: "iscsiadm: Could not login to [iface: default, target: " + testIQN + ", portal: " + p + "].\n" +
			"iscsiadm: initiator reported error (" + reason + ")\n" +
			"iscsiadm: Could not log into all portals\n",
		err: exitErr(status),
	}
}

const recordShown = `# BEGIN RECORD 2.1.8
node.name = ` + testIQN + `
node.tpgt = 1
node.startup = manual
node.session.auth.authmethod = None
node.session.auth.password = <empty>
node.conn[0].address = 192.0.2.10
node.conn[0].port = 3260
# END RECORD
`

var (
	noRecord   = run{stderr: "iscsiadm: No records found\n", err: exitErr(21)}
	noSession  = run{stderr: "iscsiadm: No matching sessions found\n", err: exitErr(21)}
	newNodeOut = "New iSCSI node [tcp:[hw=,ip=,net_if=,iscsi_if=default] 192.0.2.10,3260,-1 " + testIQN + "] added\n"
)

func with(r run, argv []string) run { r.argv = argv; return r }

// iscsiHost is a fake /dev/disk/by-path, /sys and state directory.
type iscsiHost struct {
	devDir, sysDir, stateDir, disks string
}

func newISCSIHost(t *testing.T) iscsiHost {
	root := t.TempDir()
	h := iscsiHost{
		devDir:   filepath.Join(root, "dev", "disk", "by-path"),
		sysDir:   filepath.Join(root, "sys"),
		stateDir: filepath.Join(root, "state"),
		disks:    filepath.Join(root, "dev"),
	}
	if err := os.MkdirAll(h.devDir, 0o755); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h iscsiHost) connector(e utilexec.Interface) *ISCSIConnector {
	c := NewISCSIConnector(e, h.stateDir)
	c.devDir, c.sysDir, c.pollEvery = h.devDir, h.sysDir, time.Millisecond
	return c
}

// addDisk makes the disk node and udev's by-path link of a LUN, and its sysfs delete
// file.
func (h iscsiHost) addDisk(t *testing.T, link, disk string) string {
	t.Helper()
	device := filepath.Join(h.disks, disk)
	del := filepath.Join(h.sysDir, "block", disk, "device", "delete")
	if err := os.MkdirAll(filepath.Dir(del), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{device, del} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("../../"+disk, filepath.Join(h.devDir, link)); err != nil {
		t.Fatal(err)
	}
	return device
}

func byPath(portal string, lun string) string {
	return "ip-" + portal + "-iscsi-" + testIQN + "-lun-" + lun
}

func TestParseISCSIData(t *testing.T) {
	tests := []struct {
		name     string
		data     map[string]any
		want     []iscsiTarget
		wantAuth iscsiAuth
		wantErr  bool
	}{
		{
			name: "one target, CHAP",
			data: map[string]any{"target_portal": testPortal, "target_iqn": testIQN, "target_lun": json.Number("1"),
				"auth_method": "CHAP", "auth_username": "u", "auth_password": testSecret, "discard": true},
			want:     []iscsiTarget{{Portal: testPortal, IQN: testIQN, LUN: 1}},
			wantAuth: iscsiAuth{method: "CHAP", username: "u", password: testSecret},
		},
		{
			name: "multipath lists after the main target, without duplicates",
			data: map[string]any{"target_portal": testPortal, "target_iqn": testIQN, "target_lun": "0",
				"target_portals": []any{testPortal, "192.0.2.11:3260"}, "target_iqns": []any{testIQN, testIQN},
				"target_luns": []any{json.Number("0"), json.Number("0")}},
			want: []iscsiTarget{{Portal: testPortal, IQN: testIQN}, {Portal: "192.0.2.11:3260", IQN: testIQN}},
		},
		{
			name: "lists only, one IQN and LUN for all",
			data: map[string]any{"target_portals": []any{"192.0.2.11"}, "target_iqn": testIQN, "target_lun": json.Number("3")},
			want: []iscsiTarget{{Portal: "192.0.2.11:3260", IQN: testIQN, LUN: 3}},
		},
		{
			name: "IPv6 portal",
			data: map[string]any{"target_portal": "[2001:db8::1]:3260", "target_iqn": testIQN, "target_lun": json.Number("0")},
			want: []iscsiTarget{{Portal: "[2001:db8::1]:3260", IQN: testIQN}},
		},
		{
			name: "auth_method None",
			data: map[string]any{"target_portal": testPortal, "target_iqn": testIQN, "target_lun": json.Number("0"), "auth_method": "None"},
			want: []iscsiTarget{{Portal: testPortal, IQN: testIQN}},
		},
		{name: "nothing", data: map[string]any{"discard": true}, wantErr: true},
		{name: "no LUN", data: map[string]any{"target_portal": testPortal, "target_iqn": testIQN}, wantErr: true},
		{name: "negative LUN", data: map[string]any{"target_portal": testPortal, "target_iqn": testIQN, "target_lun": json.Number("-1")}, wantErr: true},
		{name: "host name portal", data: map[string]any{"target_portal": "san.example:3260", "target_iqn": testIQN, "target_lun": json.Number("0")}, wantErr: true},
		{name: "bad port", data: map[string]any{"target_portal": "192.0.2.10:0", "target_iqn": testIQN, "target_lun": json.Number("0")}, wantErr: true},
		{name: "IQN like an option", data: map[string]any{"target_portal": testPortal, "target_iqn": "--op=delete", "target_lun": json.Number("0")}, wantErr: true},
		{name: "portals not a list", data: map[string]any{"target_portals": testPortal, "target_iqn": testIQN, "target_lun": json.Number("0")}, wantErr: true},
		{
			name:    "CHAP without a password",
			data:    map[string]any{"target_portal": testPortal, "target_iqn": testIQN, "target_lun": json.Number("0"), "auth_method": "CHAP", "auth_username": "u"},
			wantErr: true,
		},
		{
			name:    "another auth method",
			data:    map[string]any{"target_portal": testPortal, "target_iqn": testIQN, "target_lun": json.Number("0"), "auth_method": "Kerberos"},
			wantErr: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, auth, err := parseISCSIData(tc.data)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %t", err, tc.wantErr)
			}
			if !slices.Equal(got, tc.want) || auth != tc.wantAuth {
				t.Errorf("got %+v, %+v; want %+v, %+v", got, auth, tc.want, tc.wantAuth)
			}
			if err != nil && strings.Contains(err.Error(), testSecret) {
				t.Errorf("error %q reveals the CHAP secret", err)
			}
		})
	}
}

func TestFormatLUN(t *testing.T) {
	for lun, want := range map[uint64]string{0: "0", 255: "255", 256: "0x0100000000000000", 0x10002: "0x0002000100000000"} {
		if got := formatLUN(lun); got != want {
			t.Errorf("formatLUN(%d) = %s, want %s", lun, got, want)
		}
	}
	ipv6 := iscsiTarget{Portal: "[2001:db8::1]:3260", IQN: "iqn.x", LUN: 2}
	if got, want := ipv6.byPathNames(), []string{"ip-[2001:db8::1]:3260-iscsi-iqn.x-lun-2", "ip-2001:db8::1:3260-iscsi-iqn.x-lun-2"}; !slices.Equal(got, want) {
		t.Errorf("byPathNames = %q, want %q", got, want)
	}
}

func TestReadInitiatorName(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "initiatorname.iscsi")
	content := "## DO NOT EDIT OR REMOVE THIS FILE!\n## If you remove this file, the iSCSI daemon will not start.\n" +
		"InitiatorName=iqn.1993-08.org.debian:01:5a1b2c3d4e5f\n"
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadInitiatorName(file); err != nil || got != "iqn.1993-08.org.debian:01:5a1b2c3d4e5f" {
		t.Errorf("ReadInitiatorName = %q, %v", got, err)
	}
	if _, err := ReadInitiatorName(filepath.Join(dir, "missing")); !errors.Is(err, ErrUnsupported) {
		t.Errorf("missing file: err = %v, want ErrUnsupported", err)
	}
	generate := filepath.Join(dir, "generate")
	if err := os.WriteFile(generate, []byte("GenerateName=yes\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadInitiatorName(generate); !errors.Is(err, ErrUnsupported) {
		t.Errorf("no name yet: err = %v, want ErrUnsupported", err)
	}
}

func TestISCSIConnect(t *testing.T) {
	const second = "192.0.2.11:3260"
	chap := map[string]any{"target_portal": testPortal, "target_iqn": testIQN, "target_lun": json.Number("1"),
		"auth_method": "CHAP", "auth_username": "cinder", "auth_password": testSecret}
	plain := map[string]any{"target_portal": testPortal, "target_iqn": testIQN, "target_lun": json.Number("1")}
	twoPaths := map[string]any{"target_portal": testPortal, "target_iqn": testIQN, "target_lun": json.Number("1"),
		"target_portals": []any{testPortal, second}}
	update := func(name, value string) run {
		return run{argv: iscsiNode(testPortal, "--op", "update", "-n", name, "-v", value)}
	}
	tests := []struct {
		name       string
		data       map[string]any
		present    bool // the disk is there before Connect
		runs       func(h iscsiHost, t *testing.T) []run
		timeout    time.Duration
		want       string // disk name under h.disks
		wantErr    error
		wantInErr  string
		wantRecord []iscsiTarget
	}{
		{
			name: "new node, CHAP, login, the disk appears",
			data: chap,
			runs: func(h iscsiHost, t *testing.T) []run {
				return []run{
					with(noRecord, iscsiNode(testPortal)),
					{argv: iscsiNode(testPortal, "--op", "new"), stdout: newNodeOut},
					update("node.session.auth.authmethod", "CHAP"),
					update("node.session.auth.username", "cinder"),
					update("node.session.auth.password", testSecret),
					{argv: iscsiNode(testPortal, "--login"), stdout: loginOK(testPortal),
						then: func() { h.addDisk(t, byPath(testPortal, "1"), "sdb") }},
				}
			},
			want:       "sdb",
			wantRecord: []iscsiTarget{{Portal: testPortal, IQN: testIQN, LUN: 1}},
		},
		{
			name: "already logged in (another LUN of the target): rescan",
			data: plain,
			runs: func(h iscsiHost, t *testing.T) []run {
				return []run{
					{argv: iscsiNode(testPortal), stdout: recordShown},
					{argv: iscsiNode(testPortal, "--login"), err: exitErr(15),
						stderr: "iscsiadm: default: 1 session requested, but 1 already present.\niscsiadm: Could not log into all portals\n"},
					{argv: iscsiNode(testPortal, "--rescan"),
						stdout: "Rescanning session [sid: 1, target: " + testIQN + ", portal: 192.0.2.10,3260]\n",
						then:   func() { h.addDisk(t, byPath(testPortal, "1"), "sdc") }},
				}
			},
			want: "sdc",
		},
		{
			name:    "disk already there: no iscsiadm at all",
			data:    chap,
			present: true,
			runs:    func(iscsiHost, *testing.T) []run { return nil },
			want:    "sdb",
		},
		{
			name: "first portal times out, the second logs in",
			data: twoPaths,
			runs: func(h iscsiHost, t *testing.T) []run {
				return []run{
					{argv: iscsiNode(testPortal), stdout: recordShown},
					loginFailed(testPortal, 8, "8 - connection timed out"),
					with(noRecord, iscsiNode(second)),
					{argv: iscsiNode(second, "--op", "new")},
					{argv: iscsiNode(second, "--login"), stdout: loginOK(second),
						then: func() { h.addDisk(t, byPath(second, "1"), "sdd") }},
				}
			},
			want:       "sdd",
			wantRecord: []iscsiTarget{{Portal: testPortal, IQN: testIQN, LUN: 1}, {Portal: second, IQN: testIQN, LUN: 1}},
		},
		{
			name: "target unreachable",
			data: plain,
			runs: func(iscsiHost, *testing.T) []run {
				return []run{
					{argv: iscsiNode(testPortal), stdout: recordShown},
					loginFailed(testPortal, 4, "4 - encountered connection failure"),
				}
			},
			wantErr:    ErrDeviceNotFound,
			wantRecord: []iscsiTarget{{Portal: testPortal, IQN: testIQN, LUN: 1}},
		},
		{
			name: "CHAP refused: not a missing device, and the secret stays hidden",
			data: chap,
			runs: func(iscsiHost, *testing.T) []run {
				return []run{
					{argv: iscsiNode(testPortal), stdout: recordShown},
					update("node.session.auth.authmethod", "CHAP"),
					update("node.session.auth.username", "cinder"),
					update("node.session.auth.password", testSecret),
					loginFailed(testPortal, 24, "24 - iSCSI login failed due to authorization failure"),
				}
			},
			wantInErr: "refused the CHAP credentials",
		},
		{
			name: "setting the password fails: the secret is redacted",
			data: chap,
			runs: func(iscsiHost, *testing.T) []run {
				return []run{
					{argv: iscsiNode(testPortal), stdout: recordShown},
					update("node.session.auth.authmethod", "CHAP"),
					update("node.session.auth.username", "cinder"),
					{argv: iscsiNode(testPortal, "--op", "update", "-n", "node.session.auth.password", "-v", testSecret),
						stderr: "iscsiadm: Could not execute operation on all records: encountered iSCSI database failure\n", err: exitErr(6)},
				}
			},
			wantInErr: "-n node.session.auth.password -v <redacted>",
		},
		{
			name: "no iSCSI transport in the kernel",
			data: plain,
			runs: func(iscsiHost, *testing.T) []run {
				return []run{
					{argv: iscsiNode(testPortal), stdout: recordShown},
					loginFailed(testPortal, 12, "12 - iSCSI driver not found. Please make sure it is loaded, and retry the operation"),
				}
			},
			wantErr: ErrUnsupported,
		},
		{
			name: "iscsid not running",
			data: plain,
			runs: func(iscsiHost, *testing.T) []run {
				return []run{
					{argv: iscsiNode(testPortal), stdout: recordShown},
					{argv: iscsiNode(testPortal, "--login"), err: exitErr(20),
						stderr: "iscsiadm: can not connect to iSCSI daemon (111)!\niscsiadm: Could not login to [iface: default, target: " + testIQN + ", portal: 192.0.2.10,3260].\n"},
				}
			},
			wantInErr: "is it running",
		},
		{
			name: "iscsiadm not installed",
			data: plain,
			runs: func(iscsiHost, *testing.T) []run {
				return []run{{argv: iscsiNode(testPortal), err: utilexec.ErrExecutableNotFound}}
			},
			wantErr: ErrUnsupported,
		},
		{
			name: "logged in but the LUN never appears",
			data: plain,
			runs: func(iscsiHost, *testing.T) []run {
				return []run{
					{argv: iscsiNode(testPortal), stdout: recordShown},
					{argv: iscsiNode(testPortal, "--login"), stdout: loginOK(testPortal)},
				}
			},
			timeout: 20 * time.Millisecond,
			wantErr: ErrDeviceNotFound,
		},
		{
			name:    "malformed data: nothing runs, nothing is recorded",
			data:    map[string]any{"target_portal": testPortal},
			runs:    func(iscsiHost, *testing.T) []run { return nil },
			wantErr: ErrInvalidArgument,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newISCSIHost(t)
			if tc.present {
				h.addDisk(t, byPath(testPortal, "1"), "sdb")
			}
			c := h.connector(recordedExec(t, tc.runs(h, t)...))
			ctx := context.Background()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			got, err := c.Connect(ctx, volID, tc.data)
			wantFail := tc.wantErr != nil || tc.wantInErr != ""
			if (err != nil) != wantFail || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == nil && (errors.Is(err, ErrDeviceNotFound) || errors.Is(err, ErrUnsupported)) {
				t.Errorf("err = %v: this failure must not look like a missing device or an unsupported node", err)
			}
			if err != nil {
				if !strings.Contains(err.Error(), tc.wantInErr) {
					t.Errorf("error %q does not say %q", err, tc.wantInErr)
				}
				if strings.Contains(err.Error(), testSecret) {
					t.Errorf("error %q reveals the CHAP secret", err)
				}
			}
			if want := filepath.Join(h.disks, tc.want); tc.want != "" && got != want {
				t.Errorf("device = %q, want %q", got, want)
			}
			rec, err := c.readRecord(volID)
			if tc.wantRecord == nil {
				if errors.Is(tc.wantErr, ErrInvalidArgument) && !errors.Is(err, os.ErrNotExist) {
					t.Errorf("a record was written for malformed data: %+v, %v", rec, err)
				}
				return
			}
			if err != nil || !slices.Equal(rec.Targets, tc.wantRecord) {
				t.Errorf("record = %+v, %v; want %+v", rec.Targets, err, tc.wantRecord)
			}
		})
	}
}

func TestISCSIDisconnect(t *testing.T) {
	target := iscsiTarget{Portal: testPortal, IQN: testIQN, LUN: 1}
	logout := run{argv: iscsiNode(testPortal, "--logout"),
		stdout: "Logging out of session [sid: 1, target: " + testIQN + ", portal: 192.0.2.10,3260]\n" +
			"Logout of [sid: 1, target: " + testIQN + ", portal: 192.0.2.10,3260] successful.\n"}
	deleteNode := run{argv: iscsiNode(testPortal, "--op", "delete")}
	tests := []struct {
		name       string
		setup      func(h iscsiHost, t *testing.T, c *ISCSIConnector) []run
		wantErr    bool
		wantRecord bool // the record stays for a retry
		wantDelete bool // the SCSI disk was deleted through sysfs
	}{
		{
			name:  "never connected: nothing runs",
			setup: func(iscsiHost, *testing.T, *ISCSIConnector) []run { return nil },
		},
		{
			name: "the only LUN of the target: remove the disk, log out, forget the node",
			setup: func(h iscsiHost, t *testing.T, c *ISCSIConnector) []run {
				must(t, c.record(volID, []iscsiTarget{target}))
				dev := h.addDisk(t, byPath(testPortal, "1"), "sdb")
				h.addDisk(t, byPath(testPortal, "1")+"-part1", "sdb1")
				return []run{{argv: []string{"blockdev", "--flushbufs", dev}}, logout, deleteNode}
			},
			wantDelete: true,
		},
		{
			name: "another LUN of the target is present: stay logged in",
			setup: func(h iscsiHost, t *testing.T, c *ISCSIConnector) []run {
				must(t, c.record(volID, []iscsiTarget{target}))
				dev := h.addDisk(t, byPath(testPortal, "1"), "sdb")
				h.addDisk(t, byPath(testPortal, "2"), "sdc")
				return []run{{argv: []string{"blockdev", "--flushbufs", dev}}}
			},
			wantDelete: true,
		},
		{
			name: "another volume is connecting to the target: stay logged in",
			setup: func(h iscsiHost, t *testing.T, c *ISCSIConnector) []run {
				must(t, c.record(volID, []iscsiTarget{target}))
				must(t, c.record("other-volume", []iscsiTarget{{Portal: testPortal, IQN: testIQN, LUN: 7}}))
				return nil
			},
		},
		{
			name: "session and node already gone",
			setup: func(h iscsiHost, t *testing.T, c *ISCSIConnector) []run {
				must(t, c.record(volID, []iscsiTarget{target}))
				return []run{with(noSession, logout.argv), with(noRecord, deleteNode.argv)}
			},
		},
		{
			name: "logout fails: the record stays for a retry",
			setup: func(h iscsiHost, t *testing.T, c *ISCSIConnector) []run {
				must(t, c.record(volID, []iscsiTarget{target}))
				return []run{{argv: logout.argv, err: exitErr(10),
					stderr: "iscsiadm: Could not logout of [sid: 1, target: " + testIQN + ", portal: 192.0.2.10,3260].\niscsiadm: initiator reported error (10 - encountered iSCSI logout failure)\n"}}
			},
			wantErr:    true,
			wantRecord: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newISCSIHost(t)
			// The record is written by one connector and read by another, as
			// across a restart of the plugin.
			runs := tc.setup(h, t, h.connector(recordedExec(t)))
			c := h.connector(recordedExec(t, runs...))
			err := c.Disconnect(context.Background(), volID)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %t", err, tc.wantErr)
			}
			if _, err := c.readRecord(volID); errors.Is(err, os.ErrNotExist) == tc.wantRecord {
				t.Errorf("record: err = %v, want it kept = %t", err, tc.wantRecord)
			}
			del, _ := os.ReadFile(filepath.Join(h.sysDir, "block", "sdb", "device", "delete"))
			if (string(del) == "1") != tc.wantDelete {
				t.Errorf("sysfs delete got %q, want written = %t", del, tc.wantDelete)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
