package node

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
)

// hostState is what a run may leave on the host: mounts under the node's
// directories or of loop devices and FUSE exports, loop devices, and the
// processes of the node and of qemu-storage-daemon. Each entry is one line.
func hostState(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 {
			continue
		}
		src, dir, typ := fields[0], fields[1], fields[2]
		if strings.HasPrefix(dir, "/var/lib/kubelet") || strings.HasPrefix(dir, stateRoot) || strings.HasPrefix(dir, "/run/cinder-csi-node") ||
			strings.HasPrefix(src, "/dev/loop") || strings.HasPrefix(typ, "fuse") {
			out[fmt.Sprintf("mount %s on %s (%s)", src, dir, typ)] = true
		}
	}
	f.Close()
	loops, err := exec.Command("losetup", "--list", "--noheadings", "--output", "NAME,BACK-FILE").Output()
	if err != nil {
		t.Fatalf("losetup: %v", err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(loops)), "\n") {
		if l = strings.Join(strings.Fields(l), " "); l != "" {
			out["loop "+l] = true
		}
	}
	for _, p := range []string{"qemu-storage-daemon", "containerd", "kubelet", "csi-driver", "csi-node-driver-registrar", "livenessprobe"} {
		pids, _ := exec.Command("pgrep", "-x", p).Output()
		for _, pid := range strings.Fields(string(pids)) {
			cmd, _ := os.ReadFile("/proc/" + pid + "/cmdline")
			out["process "+pid+" "+strings.ReplaceAll(strings.TrimRight(string(cmd), "\x00"), "\x00", " ")] = true
		}
	}
	return out
}

// diffState lists what after has that before had not.
func diffState(before, after map[string]bool) []string {
	var added []string
	for k := range after {
		if !before[k] {
			added = append(added, k)
		}
	}
	sort.Strings(added)
	return added
}

// mountsOf lists the mount points whose path contains part.
func mountsOf(t *testing.T, part string) []string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if fields := strings.Fields(l); len(fields) > 2 && strings.Contains(fields[1], part) {
			out = append(out, fields[0]+" "+fields[1])
		}
	}
	return out
}

// volumeState keeps the entries that belong to volumes rather than to the node's
// own pods: CSI mounts, loop devices and their mounts, FUSE exports and their daemons.
func volumeState(entries []string) []string {
	var out []string
	for _, e := range entries {
		if strings.Contains(e, "kubernetes.io~csi") || strings.Contains(e, "/kubernetes.io/csi/") || strings.HasPrefix(e, "loop ") ||
			strings.Contains(e, "/dev/loop") || strings.Contains(e, "(fuse") || strings.Contains(e, "qemu-storage-daemon") {
			out = append(out, e)
		}
	}
	return out
}
