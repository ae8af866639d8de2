package mount

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	utilexec "k8s.io/utils/exec"
)

// The rbd outputs below follow Ceph Reef's rbd CLI (and Luminous' older showmapped
// form); this kernel has no rbd module to produce them again.

const testImage = "volume-" + volID

func rbd(args ...string) []string { return append([]string{"rbd"}, args...) }

var showmappedCmd = rbd("showmapped", "--format", "json")

// cephNoConfig is what ceph tools print on stderr on a node without /etc/ceph.
const cephNoConfig = "2024-05-02T10:11:12.345+0000 7f3a5c9e4380 -1 Errors while parsing config file!\n" +
	"2024-05-02T10:11:12.345+0000 7f3a5c9e4380 -1 can't open ceph.conf: (2) No such file or directory\n"

func mapped(entries ...string) string {
	out := "["
	for i, e := range entries {
		if i > 0 {
			out += ","
		}
		out += e
	}
	return out + "]\n"
}

func mapping(id, pool, name, snap string) string {
	return `{"id":"` + id + `","pool":"` + pool + `","namespace":"","name":"` + name + `","snap":"` + snap + `","device":"/dev/rbd` + id + `"}`
}

func TestParseShowmapped(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		want    []rbdMapping
		wantErr bool
	}{
		{name: "nothing printed", out: ""},
		{name: "no mapping", out: "[]\n", want: []rbdMapping{}},
		{
			name: "Nautilus and later",
			out:  mapped(mapping("0", "volumes", testImage, "-"), `{"id":"1","pool":"p","namespace":"ns","name":"i","snap":"s1","device":"/dev/rbd1"}`),
			want: []rbdMapping{
				{Pool: "volumes", Name: testImage, Snap: "-", Device: "/dev/rbd0"},
				{Pool: "p", Namespace: "ns", Name: "i", Snap: "s1", Device: "/dev/rbd1"},
			},
		},
		{
			name: "Luminous: an object keyed by ID",
			out:  `{"1":{"pool":"rbd","name":"b","snap":"-","device":"/dev/rbd1"},"0":{"pool":"rbd","name":"a","snap":"-","device":"/dev/rbd0"}}`,
			want: []rbdMapping{
				{Pool: "rbd", Name: "a", Snap: "-", Device: "/dev/rbd0"},
				{Pool: "rbd", Name: "b", Snap: "-", Device: "/dev/rbd1"},
			},
		},
		{name: "garbage", out: "rbd: oops", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseShowmapped(tc.out)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %t", err, tc.wantErr)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseRBDData(t *testing.T) {
	good := func(kv ...any) map[string]any {
		d := map[string]any{"name": "volumes/" + testImage, "hosts": []any{"192.0.2.20", "2001:db8::20"},
			"ports": []any{"6789", json.Number("3300")}, "auth_enabled": true, "auth_username": "cinder",
			"cluster_name": "ceph", "secret_type": "ceph", "secret_uuid": "457eb676-33da-42ec-9a8c-9293d545c337", "volume_id": volID}
		for i := 0; i < len(kv); i += 2 {
			d[kv[i].(string)] = kv[i+1]
		}
		return d
	}
	img, err := parseRBDData(volID, good())
	if err != nil {
		t.Fatal(err)
	}
	if img.pool != "volumes" || img.image != testImage || img.user != "cinder" ||
		!slices.Equal(img.monitors, []string{"192.0.2.20:6789", "[2001:db8::20]:3300"}) {
		t.Errorf("parsed %+v", img)
	}
	bad := map[string]map[string]any{
		"no pool":              good("name", testImage),
		"a namespace":          good("name", "volumes/ns/"+testImage),
		"a snapshot":           good("name", "volumes/"+testImage+"@snap"),
		"another volume":       good("name", "volumes/volume-other"),
		"pool like an option":  good("name", "--pool/"+testImage),
		"comma in a host":      good("hosts", []any{"192.0.2.20,evil", "h"}),
		"ports do not match":   good("ports", []any{"6789"}),
		"port not a number":    good("ports", []any{"x", "6789"}),
		"user like an option":  good("auth_username", "--keyring=/etc/shadow"),
		"auth without a user":  good("auth_username", ""),
		"hosts not a list":     good("hosts", "192.0.2.20"),
		"cluster with a slash": good("cluster_name", "../etc"),
	}
	for name, data := range bad {
		t.Run(name, func(t *testing.T) {
			if _, err := parseRBDData(volID, data); err == nil {
				t.Error("want an error")
			}
		})
	}
}

func TestRBDConnect(t *testing.T) {
	data := func(kv ...any) map[string]any {
		d := map[string]any{"name": "volumes/" + testImage, "hosts": []any{"192.0.2.20", "192.0.2.21"},
			"ports": []any{"6789", "6789"}, "auth_enabled": true, "auth_username": "cinder"}
		for i := 0; i < len(kv); i += 2 {
			d[kv[i].(string)] = kv[i+1]
		}
		return d
	}
	mapCmd := rbd("map", "volumes/"+testImage, "--id", "cinder", "--mon_host", "192.0.2.20:6789,192.0.2.21:6789")
	mapFailed := func(errno int, stderr string) []run {
		return []run{
			{argv: showmappedCmd, stdout: "[]\n"},
			{argv: mapCmd, stderr: cephNoConfig + "rbd: sysfs write failed\n" + stderr, err: exitErr(errno)},
		}
	}
	keyringDir := filepath.Join(t.TempDir(), "rbd")
	keyring := filepath.Join(keyringDir, volID+".keyring")
	const keyringContent = "[client.cinder]\n\tkey = AQBvJWZmAAAAABAAm3gdrRRWu0iVkG0X4dKqTg==\n"
	tests := []struct {
		name    string
		data    map[string]any
		runs    []run
		want    string
		wantErr error
		anyErr  bool
	}{
		{
			name: "already mapped: reused",
			data: data(),
			runs: []run{{argv: showmappedCmd, stdout: mapped(mapping("3", "volumes", testImage, "-"))}},
			want: "/dev/rbd3",
		},
		{
			name: "maps the head; a mapped snapshot and another pool do not count",
			data: data(),
			runs: []run{
				{argv: showmappedCmd, stdout: mapped(mapping("0", "volumes", testImage, "snap-1"), mapping("1", "backup", testImage, "-"))},
				{argv: mapCmd, stdout: "/dev/rbd2\n", stderr: cephNoConfig},
			},
			want: "/dev/rbd2",
		},
		{
			name: "keyring from Cinder: a private file for the map only",
			data: data("keyring", keyringContent, "access_mode", "ro", "cluster_name", "backup-cluster"),
			runs: []run{
				{argv: showmappedCmd, stdout: "[]\n"},
				{
					argv:   append(mapCmd[:len(mapCmd):len(mapCmd)], "--cluster", "backup-cluster", "--read-only", "--keyring", keyring),
					stdout: "/dev/rbd0\n",
					then: func() {
						info, err := os.Stat(keyring)
						if err != nil || info.Mode().Perm() != 0o600 {
							t.Errorf("keyring during the map: %v, %v; want mode 0600", info, err)
						}
						if dir, err := os.Stat(keyringDir); err != nil || dir.Mode().Perm() != 0o700 {
							t.Errorf("keyring directory: %v, %v; want mode 0700", dir, err)
						}
						if got, _ := os.ReadFile(keyring); string(got) != keyringContent {
							t.Errorf("keyring content = %q", got)
						}
					},
				},
			},
			want: "/dev/rbd0",
		},
		{
			name:    "image missing",
			data:    data(),
			runs:    mapFailed(2, "In some cases useful info is found in syslog - try \"dmesg | tail\".\nrbd: map failed: (2) No such file or directory\n"),
			wantErr: ErrDeviceNotFound,
		},
		{
			name: "image features the kernel lacks",
			data: data(),
			runs: mapFailed(6, "RBD image feature set mismatch. You can disable features unsupported by the kernel with \"rbd feature disable volumes/"+
				testImage+" object-map fast-diff deep-flatten\".\nIn some cases useful info is found in syslog - try \"dmesg | tail\".\nrbd: map failed: (6) No such device or address\n"),
			wantErr: ErrUnsupported,
		},
		{
			name:   "monitors unreachable",
			data:   data(),
			runs:   mapFailed(110, "rbd: map failed: (110) Connection timed out\n"),
			anyErr: true,
		},
		{
			name:    "rbd not installed",
			data:    data(),
			runs:    []run{{argv: showmappedCmd, err: utilexec.ErrExecutableNotFound}},
			wantErr: ErrUnsupported,
		},
		{
			name:    "malformed data: nothing runs",
			data:    data("name", "volumes"),
			wantErr: ErrInvalidArgument,
		},
		{
			name: "output without a device",
			data: data(),
			runs: []run{
				{argv: showmappedCmd, stdout: "[]\n"},
				{argv: mapCmd, stdout: "\n"},
			},
			anyErr: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := NewRBDConnector(recordedExec(t, tc.runs...), "")
			c.keyringDir = keyringDir
			got, err := c.Connect(context.Background(), volID, tc.data)
			wantFail := tc.wantErr != nil || tc.anyErr
			if (err != nil) != wantFail || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.anyErr && (errors.Is(err, ErrDeviceNotFound) || errors.Is(err, ErrUnsupported) || errors.Is(err, ErrInvalidArgument)) {
				t.Errorf("err = %v: want no sentinel", err)
			}
			if got != tc.want {
				t.Errorf("device = %q, want %q", got, tc.want)
			}
			if _, err := os.Stat(keyring); !os.IsNotExist(err) {
				t.Errorf("keyring left behind: %v", err)
			}
		})
	}
}

func TestRBDDisconnect(t *testing.T) {
	mine := mapped(
		mapping("0", "volumes", testImage, "-"),
		mapping("1", "volumes", testImage, "snap-1"),
		mapping("2", "volumes-ssd", testImage, "-"),
		mapping("3", "volumes", testImage+"0", "-"),
		mapping("4", "volumes", "volume-other", "-"),
	)
	tests := []struct {
		name    string
		runs    []run
		wantErr bool
	}{
		{name: "rbd not installed: nothing can be mapped", runs: []run{{argv: showmappedCmd, err: utilexec.ErrExecutableNotFound}}},
		{name: "nothing mapped", runs: []run{{argv: showmappedCmd, stdout: "[]\n"}}},
		{
			name: "unmaps the heads of the volume's image only, in every pool",
			runs: []run{
				{argv: showmappedCmd, stdout: mine},
				{argv: rbd("unmap", "/dev/rbd0")},
				{argv: rbd("unmap", "/dev/rbd2")},
			},
		},
		{
			name: "unmapped meanwhile: success",
			runs: []run{
				{argv: showmappedCmd, stdout: mapped(mapping("0", "volumes", testImage, "-"))},
				{argv: rbd("unmap", "/dev/rbd0"), stderr: "rbd: '/dev/rbd0' is not a block device\n", err: exitErr(22)},
				{argv: showmappedCmd, stdout: "[]\n"},
			},
		},
		{
			name: "busy: an error, and the others are still tried",
			runs: []run{
				{argv: showmappedCmd, stdout: mine},
				{argv: rbd("unmap", "/dev/rbd0"), stderr: "rbd: sysfs write failed\nrbd: unmap failed: (16) Device or resource busy\n", err: exitErr(16)},
				{argv: showmappedCmd, stdout: mine},
				{argv: rbd("unmap", "/dev/rbd2")},
			},
			wantErr: true,
		},
		{
			name:    "showmapped fails",
			runs:    []run{{argv: showmappedCmd, stderr: "rbd: failed to get mapped devices\n", err: exitErr(1)}},
			wantErr: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := NewRBDConnector(recordedExec(t, tc.runs...), "")
			if err := c.Disconnect(context.Background(), volID); (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %t", err, tc.wantErr)
			}
		})
	}
}
