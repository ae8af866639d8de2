package mount

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"
	mountutils "k8s.io/mount-utils"
	utilexec "k8s.io/utils/exec"
)

// QemuExports exposes qcow2 volume images as block devices. A loop device cannot read
// qcow2, so qemu-storage-daemon (Debian package qemu-system-common) serves the image's
// guest view as a raw file through a FUSE export, and a loop device is put on that
// file. Writes go through the daemon into the image: the top of the chain (the
// overlay Cinder made at the last snapshot), never its backing files.
//
// Everything about a volume's export lives in <stateDir>/qsd/<volumeID>/: "export",
// the empty file the FUSE export is mounted on, and "pid", the daemon's pidfile. The
// directory is named by the volume ID, so Detach finds what to tear down on the system
// (loop devices, the daemon, the mount) after a restart, without memory.
//
// The daemon runs detached from the plugin process, so it survives a restart of the
// process; it does not survive the end of the plugin's container (its PID namespace),
// after which I/O on the loop device fails until the volume is staged again.
type QemuExports struct {
	exec utilexec.Interface
	loop *LoopDevices
	dir  string

	// procDir and mountInfo are /proc and /proc/self/mountinfo, apart for tests.
	procDir, mountInfo string
	// stopGrace is how long the daemon gets to flush and exit on SIGTERM before
	// SIGKILL; pollEvery paces the wait.
	stopGrace, pollEvery time.Duration

	// mu serializes exports and teardowns: starting a daemon is a find-then-create
	// that two callers must not both do. Starts take well under a second.
	mu sync.Mutex
}

// NewQemuExports returns exports keeping their state under stateDir (DefaultStateDir
// when empty), an absolute path, and attaching loop devices through loop.
func NewQemuExports(exec utilexec.Interface, loop *LoopDevices, stateDir string) *QemuExports {
	if stateDir == "" {
		stateDir = DefaultStateDir
	}
	return &QemuExports{
		exec:      exec,
		loop:      loop,
		dir:       filepath.Join(filepath.Clean(stateDir), "qsd"),
		procDir:   "/proc",
		mountInfo: "/proc/self/mountinfo",
		stopGrace: 30 * time.Second,
		pollEvery: 50 * time.Millisecond,
	}
}

const qemuStorageDaemon = "qemu-storage-daemon"

// Attach exports the qcow2 image of the volume and returns the loop device on the
// export, reusing a running export of the same image. image must be the volume's file
// (checked by the caller); its backing chain must stay in the image's directory and
// belong to the volume, or it is refused (ErrInvalidArgument): a qcow2 header can name
// any file of the host as its backing file.
func (q *QemuExports) Attach(ctx context.Context, volumeID, image string) (string, error) {
	if err := checkVolumeID(volumeID); err != nil {
		return "", err
	}
	if !filepath.IsAbs(q.dir) {
		return "", fmt.Errorf("%w: qemu export state directory %q is not absolute", ErrInvalidArgument, q.dir)
	}
	info, err := os.Lstat(image)
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("%w: image %s of volume %s does not exist on this node", ErrDeviceNotFound, image, volumeID)
	}
	if err != nil {
		return "", fmt.Errorf("stat image %s of volume %s: %w", image, volumeID, err)
	}
	if !info.Mode().IsRegular() {
		return "", fmt.Errorf("%w: image %s of volume %s is not a regular file (mode %s)", ErrInvalidArgument, image, volumeID, info.Mode())
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.checkChain(ctx, volumeID, image); err != nil {
		return "", err
	}
	exportFile, err := q.export(ctx, volumeID, image)
	if err != nil {
		return "", err
	}
	device, err := q.loop.Attach(ctx, exportFile)
	if err != nil {
		return "", fmt.Errorf("attach the qemu export of volume %s: %w", volumeID, err)
	}
	klog.V(2).InfoS("Connected qcow2 volume image", "volumeID", volumeID, "image", image, "device", device)
	return device, nil
}

// Detach undoes Attach, in the order that keeps data safe: loop devices on the export
// first (they flush into the daemon), then the daemon (it flushes into the image),
// then the FUSE mount a dead daemon leaves behind, then the state. A volume without an
// export is not an error.
func (q *QemuExports) Detach(ctx context.Context, volumeID string) error {
	if err := checkVolumeID(volumeID); err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.teardown(ctx, volumeID)
}

func (q *QemuExports) volumeDir(volumeID string) string { return filepath.Join(q.dir, volumeID) }

// export returns the export file serving image for the volume, starting a daemon
// unless a healthy one already serves that image.
func (q *QemuExports) export(ctx context.Context, volumeID, image string) (string, error) {
	dir := q.volumeDir(volumeID)
	exportFile := filepath.Join(dir, "export")
	served, running := q.daemon(volumeID)
	mounts, err := q.mountCount(exportFile)
	if err != nil {
		return "", err
	}
	if running && mounts > 0 {
		if served == image {
			klog.V(4).InfoS("Reusing qemu export", "volumeID", volumeID, "image", image)
			return exportFile, nil
		}
		// Cinder changed the active image (a snapshot was taken) while the old one
		// is still exported: tearing it down under a user would lose writes.
		if devices, err := q.loopsOn(ctx, exportFile); err != nil || len(devices) > 0 {
			return "", fmt.Errorf("volume %s is attached from image %s, not %s (loop devices %v, %v): disconnect it first",
				volumeID, served, image, devices, err)
		}
	}
	// Anything left is stale (a dead daemon, an unmounted export, another image):
	// start afresh.
	if err := q.teardown(ctx, volumeID); err != nil {
		return "", fmt.Errorf("clean up the stale qemu export of volume %s: %w", volumeID, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create qemu export directory of volume %s: %w", volumeID, err)
	}
	if err := os.WriteFile(exportFile, nil, 0o600); err != nil {
		return "", fmt.Errorf("create qemu export file of volume %s: %w", volumeID, err)
	}
	args := qsdArgs(image, exportFile, filepath.Join(dir, "pid"))
	stdout, stderr, err := runTool(ctx, q.exec, qemuStorageDaemon, args...)
	if errors.Is(err, utilexec.ErrExecutableNotFound) {
		return "", missingTool(qemuStorageDaemon, "qemu-system-common", err)
	}
	if err != nil {
		return "", fmt.Errorf("export image %s of volume %s: %w", image, volumeID, toolError(qemuStorageDaemon, args, err, stdout, stderr))
	}
	// --daemonize returns once the export is set up, so the mount is there now.
	if mounts, err := q.mountCount(exportFile); err != nil || mounts == 0 {
		return "", fmt.Errorf("%s started for volume %s but %s is not mounted (%v)", qemuStorageDaemon, volumeID, exportFile, err)
	}
	klog.V(2).InfoS("Exported qcow2 image", "volumeID", volumeID, "image", image, "export", exportFile)
	return exportFile, nil
}

// qsdArgs is the daemon's command line: the image opened read-write as qcow2 (its
// backing chain read-only, as its header says) and exported as raw bytes on
// exportFile.
func qsdArgs(image, exportFile, pidFile string) []string {
	return []string{
		"--blockdev", "driver=file,node-name=file,filename=" + qemuOptEscape(image),
		"--blockdev", "driver=qcow2,node-name=qcow2,file=file",
		"--export", "type=fuse,id=export,node-name=qcow2,mountpoint=" + qemuOptEscape(exportFile) + ",writable=on",
		"--daemonize", "--pidfile", pidFile,
	}
}

// teardown removes whatever exists of the volume's export. It stops at the first
// failure, because each step makes the next one safe.
func (q *QemuExports) teardown(ctx context.Context, volumeID string) error {
	dir := q.volumeDir(volumeID)
	if _, err := os.Lstat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	exportFile := filepath.Join(dir, "export")
	devices, err := q.loopsOn(ctx, exportFile)
	if err != nil {
		return err
	}
	for _, device := range devices {
		if err := q.loop.Detach(ctx, device); err != nil {
			return err
		}
	}
	if err := q.stopDaemon(ctx, volumeID); err != nil {
		return err
	}
	if err := q.unmount(ctx, exportFile); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove qemu export state of volume %s: %w", volumeID, err)
	}
	klog.V(2).InfoS("Removed qemu export", "volumeID", volumeID)
	return nil
}

// loopsOn lists the loop devices on the export file from the kernel's list, which,
// unlike losetup --associated, does not stat the file (a dead daemon's FUSE file
// cannot be stat'ed).
func (q *QemuExports) loopsOn(ctx context.Context, exportFile string) ([]string, error) {
	devices, err := q.loop.List(ctx)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, d := range devices {
		if d.BackingFile == exportFile {
			names = append(names, d.Device)
		}
	}
	return names, nil
}

// daemon returns the image served by the volume's daemon, if its pidfile names a live
// qemu-storage-daemon exporting on the volume's export file. Anything else (no
// pidfile, a recycled PID, a zombie) is no daemon.
func (q *QemuExports) daemon(volumeID string) (image string, running bool) {
	pid, ok := q.pid(volumeID)
	if !ok {
		return "", false
	}
	return q.daemonImage(pid, filepath.Join(q.volumeDir(volumeID), "export"))
}

func (q *QemuExports) pid(volumeID string) (int, bool) {
	raw, err := os.ReadFile(filepath.Join(q.volumeDir(volumeID), "pid"))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	return pid, err == nil && pid > 0
}

func (q *QemuExports) daemonImage(pid int, exportFile string) (string, bool) {
	cmdline, err := os.ReadFile(filepath.Join(q.procDir, strconv.Itoa(pid), "cmdline"))
	if err != nil {
		return "", false
	}
	return parseQSDCmdline(cmdline, exportFile)
}

// stopDaemon stops the volume's daemon: SIGTERM, so that it flushes the image, then
// SIGKILL after stopGrace. A daemon that is already gone is not an error.
func (q *QemuExports) stopDaemon(ctx context.Context, volumeID string) error {
	pid, ok := q.pid(volumeID)
	if !ok {
		return nil
	}
	exportFile := filepath.Join(q.volumeDir(volumeID), "export")
	alive := func() bool { _, ok := q.daemonImage(pid, exportFile); return ok }
	if !alive() {
		return nil
	}
	for _, sig := range []syscall.Signal{unix.SIGTERM, unix.SIGKILL} {
		if err := unix.Kill(pid, sig); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("signal %s (pid %d) of volume %s: %w", qemuStorageDaemon, pid, volumeID, err)
		}
		deadline := time.Now().Add(q.stopGrace)
		for alive() && time.Now().Before(deadline) {
			select {
			case <-ctx.Done():
				return fmt.Errorf("waiting for %s (pid %d) of volume %s to exit: %w", qemuStorageDaemon, pid, volumeID, ctx.Err())
			case <-time.After(q.pollEvery):
			}
		}
		if !alive() {
			klog.V(2).InfoS("Stopped qemu-storage-daemon", "volumeID", volumeID, "pid", pid, "signal", sig)
			return nil
		}
		klog.InfoS("qemu-storage-daemon did not exit in time", "volumeID", volumeID, "pid", pid, "signal", sig, "grace", q.stopGrace)
	}
	return fmt.Errorf("%s (pid %d) of volume %s survived SIGKILL", qemuStorageDaemon, pid, volumeID)
}

// unmount removes the FUSE mount from the export file. A daemon that stopped cleanly
// took it away itself; a killed one leaves it stale, which umount handles. Held open
// (a loop device the kernel has not released yet), it is detached lazily.
func (q *QemuExports) unmount(ctx context.Context, exportFile string) error {
	for range 4 { // mounts can stack; a few rounds are plenty
		n, err := q.mountCount(exportFile)
		if err != nil || n == 0 {
			return err
		}
		args := []string{exportFile}
		if stdout, stderr, err := runTool(ctx, q.exec, "umount", args...); err != nil {
			klog.V(2).InfoS("Plain unmount of the qemu export failed, detaching it lazily", "export", exportFile,
				"err", toolError("umount", args, err, stdout, stderr))
			args = []string{"--lazy", exportFile}
			if stdout, stderr, err := runTool(ctx, q.exec, "umount", args...); err != nil {
				return toolError("umount", args, err, stdout, stderr)
			}
		}
	}
	if n, err := q.mountCount(exportFile); err != nil || n > 0 {
		return fmt.Errorf("%s is still mounted %d times after unmounting (%v)", exportFile, n, err)
	}
	return nil
}

// mountCount counts the mounts on path in the mount table.
func (q *QemuExports) mountCount(path string) (int, error) {
	infos, err := mountutils.ParseMountInfo(q.mountInfo)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", q.mountInfo, err)
	}
	escaped := mountInfoEscape(path)
	n := 0
	for _, mi := range infos {
		if mi.MountPoint == escaped {
			n++
		}
	}
	return n, nil
}

// mountInfoEscape escapes path as the kernel does in mountinfo (octal for space, tab,
// newline and backslash).
func mountInfoEscape(path string) string {
	return strings.NewReplacer(`\`, `\134`, " ", `\040`, "\t", `\011`, "\n", `\012`).Replace(path)
}

// checkChain refuses an image whose backing chain leaves its directory or names files
// that are not the volume's, and an image that is not qcow2 at all.
func (q *QemuExports) checkChain(ctx context.Context, volumeID, image string) error {
	args := []string{"info", "--backing-chain", "--output=json", "--force-share", image}
	stdout, stderr, err := runTool(ctx, q.exec, "qemu-img", args...)
	if errors.Is(err, utilexec.ErrExecutableNotFound) {
		return missingTool("qemu-img", "qemu-utils", err)
	}
	if err != nil {
		return fmt.Errorf("inspect image of volume %s: %w", volumeID, toolError("qemu-img", args, err, stdout, stderr))
	}
	return validateChain(volumeID, image, stdout)
}

// validateChain reads `qemu-img info --backing-chain --output=json`.
func validateChain(volumeID, image, out string) error {
	var chain []struct {
		Filename string `json:"filename"`
		Format   string `json:"format"`
	}
	if err := json.Unmarshal([]byte(out), &chain); err != nil || len(chain) == 0 {
		return fmt.Errorf("parse qemu-img info of volume %s (%q): %v", volumeID, out, err)
	}
	if chain[0].Format != "qcow2" {
		return fmt.Errorf("%w: image %s of volume %s is %s, but Cinder reports qcow2", ErrInvalidArgument, image, volumeID, chain[0].Format)
	}
	dir := filepath.Dir(image)
	for _, f := range chain[1:] {
		if filepath.Dir(f.Filename) != dir || !isVolumeFileName(filepath.Base(f.Filename), volumeID) {
			return fmt.Errorf("%w: image %s of volume %s has backing file %q, which is not one of the volume's files beside it",
				ErrInvalidArgument, image, volumeID, f.Filename)
		}
		if f.Format != "qcow2" && f.Format != "raw" {
			return fmt.Errorf("%w: backing file %s of volume %s is %s; only qcow2 and raw are expected", ErrUnsupported, f.Filename, volumeID, f.Format)
		}
	}
	return nil
}

// parseQSDCmdline reads /proc/<pid>/cmdline and reports whether it is a
// qemu-storage-daemon with a FUSE export on exportFile, and which file it opened.
func parseQSDCmdline(cmdline []byte, exportFile string) (image string, ok bool) {
	args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	if len(args) == 0 || filepath.Base(args[0]) != qemuStorageDaemon {
		return "", false
	}
	var exports, blockdevs []string
	for i := 1; i < len(args); i++ {
		name, value, inline := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		if !inline {
			if i+1 >= len(args) {
				break
			}
			value = args[i+1]
		}
		switch name {
		case "export":
			exports = append(exports, value)
		case "blockdev":
			blockdevs = append(blockdevs, value)
		default:
			continue
		}
		if !inline {
			i++
		}
	}
	if !slices.ContainsFunc(exports, func(e string) bool {
		opts := parseQemuOpts(e)
		return opts["type"] == "fuse" && opts["mountpoint"] == exportFile
	}) {
		return "", false
	}
	for _, b := range blockdevs {
		if opts := parseQemuOpts(b); opts["driver"] == "file" {
			return opts["filename"], true
		}
	}
	return "", true
}

// parseQemuOpts splits a QEMU option string (key=value pairs separated by commas, a
// comma in a value doubled).
func parseQemuOpts(s string) map[string]string {
	opts := map[string]string{}
	var cur strings.Builder
	flush := func() {
		k, v, _ := strings.Cut(cur.String(), "=")
		opts[k] = v
		cur.Reset()
	}
	for i := 0; i < len(s); i++ {
		if s[i] != ',' {
			cur.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == ',' {
			cur.WriteByte(',')
			i++
			continue
		}
		flush()
	}
	flush()
	return opts
}

func qemuOptEscape(s string) string { return strings.ReplaceAll(s, ",", ",,") }
