package mount

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	utilexec "k8s.io/utils/exec"
)

func TestParseQemuOpts(t *testing.T) {
	got := parseQemuOpts("driver=file,filename=/a,,b/c,,,node-name=f,flag")
	want := map[string]string{"driver": "file", "filename": "/a,b/c,", "node-name": "f", "flag": ""}
	if !maps.Equal(got, want) {
		t.Errorf("parseQemuOpts = %v, want %v", got, want)
	}
	if got := parseQemuOpts("filename=" + qemuOptEscape("/x,y")); got["filename"] != "/x,y" {
		t.Errorf("escape round trip = %q", got["filename"])
	}
}

func TestParseQSDCmdline(t *testing.T) {
	const image, export = "/mnt/a,b/volume-1.snap", "/var/lib/cinder-csi/qsd/1/export"
	cmdline := func(argv ...string) []byte { return []byte(strings.Join(argv, "\x00") + "\x00") }
	ours := cmdline(append([]string{"/usr/bin/qemu-storage-daemon"}, qsdArgs(image, export, "/p")...)...)
	tests := []struct {
		name      string
		cmdline   []byte
		wantImage string
		wantOK    bool
	}{
		{name: "the daemon we start", cmdline: ours, wantImage: image, wantOK: true},
		{
			name:      "inline option values",
			cmdline:   cmdline("qemu-storage-daemon", "--blockdev=driver=file,node-name=f,filename=/i", "--export=type=fuse,mountpoint="+export),
			wantImage: "/i", wantOK: true,
		},
		{name: "another export", cmdline: cmdline("qemu-storage-daemon", "--export", "type=fuse,mountpoint=/other")},
		{name: "an NBD export on the path", cmdline: cmdline("qemu-storage-daemon", "--export", "type=nbd,mountpoint="+export)},
		{name: "a recycled PID", cmdline: cmdline("/usr/bin/sleep", "--export", "type=fuse,mountpoint="+export)},
		{name: "a zombie", cmdline: nil},
		{name: "a dangling option", cmdline: cmdline("qemu-storage-daemon", "--export")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			image, ok := parseQSDCmdline(tc.cmdline, export)
			if image != tc.wantImage || ok != tc.wantOK {
				t.Errorf("parseQSDCmdline = %q, %t; want %q, %t", image, ok, tc.wantImage, tc.wantOK)
			}
		})
	}
}

// qemuImgInfo is `qemu-img info --backing-chain --output=json` of an overlay made by
// `qemu-img create -f qcow2 -b volume-<id> -F raw volume-<id>.<snap>` (QEMU 7.2),
// with the backing file's name replaced by backing.
func qemuImgInfo(dir, top, topFormat, backing string) string {
	return `[
    {
        "backing-filename-format": "raw",
        "virtual-size": 67108864,
        "filename": "` + filepath.Join(dir, top) + `",
        "cluster-size": 65536,
        "format": "` + topFormat + `",
        "actual-size": 200704,
        "format-specific": {"type": "qcow2", "data": {"compat": "1.1", "corrupt": false}},
        "full-backing-filename": "` + backing + `",
        "backing-filename": "` + filepath.Base(backing) + `",
        "dirty-flag": false
    },
    {
        "virtual-size": 67108864,
        "filename": "` + backing + `",
        "format": "raw",
        "actual-size": 0,
        "dirty-flag": false
    }
]
`
}

func TestValidateChain(t *testing.T) {
	const dir = "/mnt/af84f382ebd177d5ed5600303caa430d"
	top := "volume-" + volID + ".5e0a"
	image := filepath.Join(dir, top)
	tests := []struct {
		name    string
		out     string
		wantErr error
	}{
		{name: "overlay on the volume's raw file", out: qemuImgInfo(dir, top, "qcow2", filepath.Join(dir, "volume-"+volID))},
		{name: "backing file outside the share", out: qemuImgInfo(dir, top, "qcow2", "/etc/shadow"), wantErr: ErrInvalidArgument},
		{name: "another volume's file", out: qemuImgInfo(dir, top, "qcow2", filepath.Join(dir, "volume-other")), wantErr: ErrInvalidArgument},
		{name: "a host device", out: qemuImgInfo(dir, top, "qcow2", "/dev/sda"), wantErr: ErrInvalidArgument},
		{name: "not qcow2 at all", out: qemuImgInfo(dir, top, "raw", filepath.Join(dir, "volume-"+volID)), wantErr: ErrInvalidArgument},
		{name: "a lone qcow2", out: `[{"filename": "` + image + `", "format": "qcow2"}]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := validateChain(volID, image, tc.out)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
	if err := validateChain(volID, image, "qemu-img: oops"); err == nil {
		t.Error("unparsable output: want an error")
	}
}

func qemuImgInfoCmd(image string) []string {
	return []string{"qemu-img", "info", "--backing-chain", "--output=json", "--force-share", image}
}

func TestQemuExportsAttachRefuses(t *testing.T) {
	dir := t.TempDir()
	image := filepath.Join(dir, "volume-"+volID+".snap")
	if err := os.WriteFile(image, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "volume-"+volID+".link")
	if err := os.Symlink("/etc/hostname", link); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		image   string
		runs    []run
		wantErr error
	}{
		{name: "missing image", image: image + "2", wantErr: ErrDeviceNotFound},
		{name: "symlink", image: link, wantErr: ErrInvalidArgument},
		{
			name: "qemu-img not installed", image: image,
			runs:    []run{{argv: qemuImgInfoCmd(image), err: utilexec.ErrExecutableNotFound}},
			wantErr: ErrUnsupported,
		},
		{
			name: "backing file elsewhere: no daemon is started", image: image,
			runs:    []run{{argv: qemuImgInfoCmd(image), stdout: qemuImgInfo(dir, filepath.Base(image), "qcow2", "/var/lib/secret")}},
			wantErr: ErrInvalidArgument,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := recordedExec(t, tc.runs...)
			q := NewQemuExports(e, NewLoopDevices(e), filepath.Join(dir, "state"))
			_, err := q.Attach(context.Background(), volID, tc.image)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestQemuExportsDetach(t *testing.T) {
	t.Run("nothing exported: no command at all", func(t *testing.T) {
		e := recordedExec(t)
		q := NewQemuExports(e, NewLoopDevices(e), t.TempDir())
		if err := q.Detach(context.Background(), volID); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a pidfile naming another process: it is not signalled", func(t *testing.T) {
		stateDir, proc := t.TempDir(), t.TempDir()
		vdir := filepath.Join(stateDir, "qsd", volID)
		mountInfo := filepath.Join(t.TempDir(), "mountinfo")
		for path, content := range map[string]string{
			filepath.Join(vdir, "export"): "",
			// Our own PID: a wrong guess would kill the test.
			filepath.Join(vdir, "pid"):                                strconv.Itoa(os.Getpid()),
			filepath.Join(proc, strconv.Itoa(os.Getpid()), "cmdline"): "/usr/bin/sleep\x00600\x00",
			mountInfo: "22 1 0:21 / /proc rw - proc proc rw\n",
		} {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		e := recordedExec(t, run{argv: listCmd(), stdout: `{"loopdevices":[{"name":"/dev/loop0","back-file":"/elsewhere"}]}`})
		q := NewQemuExports(e, NewLoopDevices(e), stateDir)
		q.procDir, q.mountInfo = proc, mountInfo
		if err := q.Detach(context.Background(), volID); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Lstat(vdir); !os.IsNotExist(err) {
			t.Errorf("state %s left: %v", vdir, err)
		}
	})

	t.Run("a loop device that cannot be detached keeps the daemon", func(t *testing.T) {
		stateDir := t.TempDir()
		vdir := filepath.Join(stateDir, "qsd", volID)
		if err := os.MkdirAll(vdir, 0o700); err != nil {
			t.Fatal(err)
		}
		list := `{"loopdevices":[{"name":"/dev/loop4","back-file":"` + filepath.Join(vdir, "export") + `"}]}`
		e := recordedExec(t,
			run{argv: listCmd(), stdout: list},
			run{argv: losetup("--detach", "/dev/loop4"), stderr: "losetup: /dev/loop4: detach failed: Permission denied", err: exitErr(1)},
			run{argv: listCmd(), stdout: list},
		)
		q := NewQemuExports(e, NewLoopDevices(e), stateDir)
		if err := q.Detach(context.Background(), volID); err == nil {
			t.Fatal("want an error")
		}
		if _, err := os.Lstat(vdir); err != nil {
			t.Errorf("state must stay for a retry: %v", err)
		}
	})
}

func TestMountInfoEscape(t *testing.T) {
	if got, want := mountInfoEscape(`/a b\c`), `/a\040b\134c`; got != want {
		t.Errorf("mountInfoEscape = %q, want %q", got, want)
	}
}

// fakeExport lays out what a running export of servedImage looks like to
// QemuExports with state in stateDir: the pidfile, the daemon's /proc entry and the
// FUSE mount. It returns the fake /proc and mountinfo.
func fakeExport(t *testing.T, stateDir, servedImage string) (procDir, mountInfo string) {
	t.Helper()
	const pid = "4242"
	procDir, mountInfo = t.TempDir(), filepath.Join(t.TempDir(), "mountinfo")
	exportFile := filepath.Join(stateDir, "qsd", volID, "export")
	cmdline := strings.Join(append([]string{"/usr/bin/qemu-storage-daemon"}, qsdArgs(servedImage, exportFile, "/p")...), "\x00") + "\x00"
	for path, content := range map[string]string{
		exportFile: "",
		filepath.Join(filepath.Dir(exportFile), "pid"): pid + "\n",
		filepath.Join(procDir, pid, "cmdline"):         cmdline,
		mountInfo: "22 1 0:21 / /proc rw - proc proc rw\n" +
			"43 27 0:39 / " + mountInfoEscape(exportFile) + " rw,nosuid,nodev,relatime - fuse /dev/fuse rw,user_id=0,group_id=0,default_permissions,allow_other\n",
	} {
		must(t, os.MkdirAll(filepath.Dir(path), 0o755))
		must(t, os.WriteFile(path, []byte(content), 0o600))
	}
	return procDir, mountInfo
}

func TestQemuExportsAttachRunningExport(t *testing.T) {
	dir := t.TempDir()
	image := filepath.Join(dir, "volume-"+volID+".snap2")
	older := filepath.Join(dir, "volume-"+volID+".snap1")
	must(t, os.WriteFile(image, nil, 0o600))
	info := run{argv: qemuImgInfoCmd(image), stdout: qemuImgInfo(dir, filepath.Base(image), "qcow2", older)}
	tests := []struct {
		name    string
		served  string
		loops   string // losetup's list of devices on the export
		want    string
		wantErr bool
	}{
		{name: "the same image: export and loop device reused", served: image, loops: "/dev/loop6", want: "/dev/loop6"},
		{name: "another image still in use: refused, nothing torn down", served: older, loops: "/dev/loop6", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stateDir := t.TempDir()
			exportFile := filepath.Join(stateDir, "qsd", volID, "export")
			list := `{"loopdevices":[{"name":"` + tc.loops + `","back-file":"` + exportFile + `"}]}`
			runs := []run{info}
			if tc.wantErr {
				runs = append(runs, run{argv: listCmd(), stdout: list})
			} else {
				runs = append(runs, run{argv: findCmd(exportFile), stdout: list})
			}
			e := recordedExec(t, runs...)
			q := NewQemuExports(e, NewLoopDevices(e), stateDir)
			q.procDir, q.mountInfo = fakeExport(t, stateDir, tc.served)
			got, err := q.Attach(context.Background(), volID, image)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("Attach = %q, %v; want %q, error %t", got, err, tc.want, tc.wantErr)
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(exportFile), "pid")); err != nil {
				t.Errorf("the export's state was touched: %v", err)
			}
		})
	}
}
