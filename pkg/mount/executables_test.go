package mount_test

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The image must carry every executable the driver runs: deploy/image/executables.txt
// lists them, and this test finds them in the source, so that a new exec cannot be
// added without the list (and so the image, whose build checks each of them) knowing.
// Executables come from three places:
//   - the driver's own calls, found in pkg/ and cmd/ with go/parser and go/types:
//     Command and CommandContext (k8s.io/utils/exec, os/exec), os.StartProcess,
//     syscall.Exec, and the driver's wrappers around them (a function passing one of
//     its parameters as the name, like runTool), found the same way;
//   - k8s.io/mount-utils, the only other dependency of the binary that imports os/exec
//     (with k8s.io/utils/exec, which runs only what it is given): its source is scanned
//     the same way and must match mountUtilsConstant and mountUtilsDynamic below, so that
//     an upgrade that runs something new fails here;
//   - helpers that those executables hand over to (mountHelpers, and fsck.<fs>).

// driverWrappers are the driver's functions that run the executable named by one of
// their parameters; the names are checked at their call sites instead.
var driverWrappers = map[string]string{
	"pkg/mount.runTool": "runs a tool with stdout and stderr kept apart",
}

// dynamicAllowed are driver call sites ("file:function") whose executable name is not a
// constant, with the reason it is known anyway. Keep it empty if at all possible.
var dynamicAllowed = map[string]string{}

// mountUtilsConstant is every constant executable name in k8s.io/mount-utils'
// Linux source (v0.37.2: mount_linux.go, resizefs_linux.go), with who runs it for the
// driver; "" marks one the driver's use of the library never reaches.
var mountUtilsConstant = map[string]string{
	"umount":      "Mounter.Unmount; NewWithoutSystemd probes umount's behaviour on a temporary directory",
	"blkid":       "SafeFormatAndMount.GetDiskFormat, FormatAndMount*, ResizeFs.Resize and NeedResize",
	"fsck":        "FormatAndMount* before a read-write mount of a formatted disk (fsck -a)",
	"resize2fs":   "ResizeFs.Resize of ext3 and ext4",
	"xfs_growfs":  "ResizeFs.Resize of xfs",
	"btrfs":       "ResizeFs.Resize and NeedResize of btrfs",
	"blockdev":    "ResizeFs.NeedResize: the device's read-only bit and size",
	"systemd-run": "", // only for systemd-scoped mounts: pkg/mount uses NewWithoutSystemd, so never probed
}

// mountUtilsDynamic are the functions of k8s.io/mount-utils whose executable name is
// not a constant, and what they run for the driver ("mkfs.*": mkfs.<fs> for each
// filesystem the driver formats, supportedFS in pkg/driver).
var mountUtilsDynamic = map[string][]string{
	"doMount": {"mount"}, // defaultMountCommand: NewWithoutSystemd("") sets no mounter path, and no systemd-run
	"format":  {"mkfs.*"},
}

// mountHelpers are run by the executables above, not by the code: mount hands a mount
// of type T to mount.T when there is one, and the NFS connector mounts type nfs; fsck
// runs fsck.<fs> ("fsck.*", for each filesystem the driver formats).
var mountHelpers = map[string]string{
	"mount.nfs": "mount -t nfs (NFSConnector): the kernel needs the server address mount.nfs resolves",
	// NFSv3 with locking (no "nolock" in Cinder's nfs_mount_options): mount.nfs starts
	// the status monitor, which registers with an rpcbind it must reach.
	"start-statd": "mount.nfs of an NFSv3 share with locking, when rpc.statd is not running",
	"rpc.statd":   "start-statd, when the container has no systemd",
	"fsck.*":      "fsck -a runs fsck.<type> of the filesystem it finds",
}

func TestImageExecutables(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	// The driver's own calls.
	var driver scanResult
	for _, top := range []string{"pkg", "cmd"} {
		dirs, err := packageDirs(filepath.Join(root, top))
		if err != nil {
			t.Fatal(err)
		}
		for _, dir := range dirs {
			rel, _ := filepath.Rel(root, dir)
			if err := driver.scanPackage(root, dir, filepath.ToSlash(rel)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if want := slices.Sorted(maps.Keys(driverWrappers)); !slices.Equal(driver.wrapperNames(), want) {
		t.Errorf("exec wrappers found in the driver: %v; documented in driverWrappers: %v", driver.wrapperNames(), want)
	}
	if len(driver.systemdMounter) > 0 {
		t.Errorf("mountutils.New at %v mounts through systemd-run when the host has systemd: use NewWithoutSystemd, or add systemd-run to the image and executables.txt", driver.systemdMounter)
	}
	used := map[string]bool{}
	for _, d := range driver.dynamic {
		key := d.file + ":" + d.function
		if _, ok := dynamicAllowed[key]; ok {
			used[key] = true
			continue
		}
		t.Errorf("%s: %s runs an executable whose name (%s) is not a constant: make it one, or add %q to dynamicAllowed with what it can be", d.pos, d.function, d.expr, key)
	}
	for key := range dynamicAllowed {
		if !used[key] {
			t.Errorf("dynamicAllowed has %s, which runs nothing any more: remove it", key)
		}
	}

	// What mount-utils runs, from its source.
	var mu scanResult
	muDir := moduleDir(t, root, "k8s.io/mount-utils")
	if err := mu.scanPackage(filepath.Dir(muDir), muDir, "k8s.io/mount-utils"); err != nil {
		t.Fatal(err)
	}
	if got, want := slices.Sorted(maps.Keys(mu.names)), slices.Sorted(maps.Keys(mountUtilsConstant)); !slices.Equal(got, want) {
		t.Errorf("k8s.io/mount-utils (%s) runs %v; mountUtilsConstant documents %v: read its source and update the table and executables.txt", muDir, got, want)
	}
	var muDynamic []string
	for _, d := range mu.dynamic {
		muDynamic = append(muDynamic, d.function)
	}
	slices.Sort(muDynamic)
	if want := slices.Sorted(maps.Keys(mountUtilsDynamic)); !slices.Equal(slices.Compact(muDynamic), want) {
		t.Errorf("k8s.io/mount-utils runs non-constant names in %v (%v); mountUtilsDynamic documents %v", muDynamic, mu.dynamic, want)
	}

	// Everything together, against the list.
	filesystems, err := supportedFilesystems(filepath.Join(root, "pkg", "driver"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{} // executable -> why
	add := func(name, why string) {
		if prefix, ok := strings.CutSuffix(name, "*"); ok {
			for _, fs := range filesystems {
				want[prefix+fs] = why + " (" + fs + ")"
			}
			return
		}
		want[name] = why
	}
	for name, sites := range driver.names {
		add(name, strings.Join(sites, ", "))
	}
	for name, why := range mountUtilsConstant {
		if why != "" {
			add(name, "k8s.io/mount-utils: "+why)
		}
	}
	for function, names := range mountUtilsDynamic {
		for _, name := range names {
			add(name, "k8s.io/mount-utils "+function)
		}
	}
	for name, why := range mountHelpers {
		add(name, why)
	}

	listed, err := readExecutables(filepath.Join(root, "deploy", "image", "executables.txt"))
	if err != nil {
		t.Fatal(err)
	}
	packages, err := readPackages(filepath.Join(root, "deploy", "image", "packages.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		if _, ok := listed[name]; !ok {
			t.Errorf("%s is run (%s) but not in deploy/image/executables.txt: add it with the Debian package that provides it (and the package to packages.txt)", name, want[name])
		}
	}
	for _, name := range slices.Sorted(maps.Keys(listed)) {
		l := listed[name]
		if _, ok := want[name]; !ok {
			t.Errorf("executables.txt:%d: nothing runs %s any more: remove it (and its package if nothing else needs it)", l.line, name)
		}
		if !l.absent && !packages[l.pkg] {
			t.Errorf("executables.txt:%d: %s comes from %q, which is not in deploy/image/packages.txt", l.line, name, l.pkg)
		}
	}
	if t.Failed() {
		return
	}
	t.Logf("%d executables, from %d driver call sites and k8s.io/mount-utils", len(want), driver.calls)
}

// site is an exec call whose name is not a constant.
// TestExecScanner runs the scanner on a made-up package with each kind of call.
func TestExecScanner(t *testing.T) {
	const src = `package p

import (
	"context"
	osexec "os/exec"

	utilexec "k8s.io/utils/exec"
	mountutils "k8s.io/mount-utils"
)

const tool = "qemu-img"

type runner struct{ exec utilexec.Interface }

func run(ctx context.Context, ex utilexec.Interface, name string, args ...string) error {
	return ex.CommandContext(ctx, name, args...).Run()
}

func runTwice(ctx context.Context, ex utilexec.Interface, what string) { _ = run(ctx, ex, what) }

func (r *runner) method(name string) { r.exec.Command(name) }

func rewritten(name string) {
	name = "/opt/" + name
	osexec.Command(name)
}

func calls(ctx context.Context, ex utilexec.Interface, r *runner, fs string) {
	ex.Command("losetup", "-a")
	osexec.CommandContext(ctx, tool)
	_ = run(ctx, ex, "iscsiadm")
	runTwice(ctx, ex, "rbd")
	r.method("udevadm")
	ex.Command("mkfs." + fs)
	rewritten("x")
	_ = mountutils.New("")
}
`
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "p.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	var r scanResult
	if err := r.scanPackage(dir, dir, "p"); err != nil {
		t.Fatal(err)
	}
	if got, want := slices.Sorted(maps.Keys(r.names)), []string{"iscsiadm", "losetup", "qemu-img", "rbd", "udevadm"}; !slices.Equal(got, want) {
		t.Errorf("names = %v, want %v", got, want)
	}
	if got, want := r.wrapperNames(), []string{"p.method", "p.run", "p.runTwice"}; !slices.Equal(got, want) {
		t.Errorf("wrappers = %v, want %v", got, want)
	}
	var dynamic []string
	for _, d := range r.dynamic {
		dynamic = append(dynamic, d.pos+" "+d.function+" "+d.expr)
	}
	if want := []string{"p.go:25 rewritten name", "p.go:34 calls \"mkfs.\" + fs"}; !slices.Equal(dynamic, want) {
		t.Errorf("dynamic = %q, want %q", dynamic, want)
	}
	if want := []string{"p.go:36"}; !slices.Equal(r.systemdMounter, want) {
		t.Errorf("mountutils.New calls = %v, want %v", r.systemdMounter, want)
	}
}
