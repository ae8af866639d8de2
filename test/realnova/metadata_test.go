package realnova

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/cinder-csi/cinder-csi-driver/pkg/driver"
	"github.com/cinder-csi/cinder-csi-driver/test/internal/testbed"
)

// TestNodeIdentityFromMetadata starts the real csi-driver binary in node mode with
// no --node-id, once reading a metadata service the test serves on 127.0.0.1 and
// once a config drive image (label config-2: vfat, or ext4 on a kernel without
// vfat) the test builds and plugs as a loop device; NodeGetInfo must report the real server's UUID and zone, and the
// controller must then attach a volume to that node ID through Nova.
func TestNodeIdentityFromMetadata(t *testing.T) {
	b := newBed(t)
	srv := b.server(t, "metadata")
	bin := testbed.DriverBinary(t)
	doc := fmt.Sprintf(`{"uuid": %q, "name": %q, "hostname": %q, "availability_zone": "nova", "launch_index": 0, "project_id": "p"}`,
		srv.ID, srv.Name, srv.Name)

	t.Run("metadata service", func(t *testing.T) {
		var hits atomic.Int32
		ms := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/openstack/latest/meta_data.json" {
				http.NotFound(w, r)
				return
			}
			hits.Add(1)
			fmt.Fprint(w, doc)
		}))
		defer ms.Close()
		info := nodeInfo(t, bin, "--metadata-url="+ms.URL, "--metadata-search-order=metadataService")
		checkInfo(t, info, srv)
		if hits.Load() != 1 {
			t.Errorf("metadata service asked %d times, want once", hits.Load())
		}
	})

	t.Run("config drive", func(t *testing.T) {
		dev := configDrive(t, doc)
		// Port 9 on loopback (discard) refuses connections: proves the drive was used.
		info := nodeInfo(t, bin, "--metadata-url=http://127.0.0.1:9", "--metadata-search-order=configDrive,metadataService")
		checkInfo(t, info, srv)
		if out, _ := os.ReadFile("/proc/mounts"); strings.Contains(string(out), dev+" ") {
			t.Errorf("the config drive %s is still mounted", dev)
		}
	})

	// The node ID the metadata gave is the server Nova attaches to.
	n := b.node(t, srv)
	ctrl := csi.NewControllerClient(n.Conn)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	vol := createVolume(ctx, t, ctrl, "metadata-"+srv.ID[:8], gib)
	publish(ctx, t, ctrl, vol, srv)
	unpublish(ctx, t, ctrl, vol, srv)
}

func checkInfo(t *testing.T, info *csi.NodeGetInfoResponse, srv *Server) {
	t.Helper()
	if info.GetNodeId() != srv.ID {
		t.Errorf("node ID %q, want the server's UUID %s", info.GetNodeId(), srv.ID)
	}
	if z := info.GetAccessibleTopology().GetSegments()[driver.TopologyZoneKey]; z != "nova" {
		t.Errorf("zone %q, want nova", z)
	}
}

// nodeInfo runs the binary in node mode with args and returns its NodeGetInfo.
func nodeInfo(t *testing.T, bin string, args ...string) *csi.NodeGetInfoResponse {
	t.Helper()
	dir, err := os.MkdirTemp("", "md")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "csi.sock")
	cmd := exec.Command(bin, append([]string{"--mode=node", "--attacher=nova", "--endpoint=unix://" + sock,
		"--state-dir=" + filepath.Join(dir, "state")}, args...)...)
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited, wait := testbed.Run(cmd.Wait)
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = wait()
	}()
	if err := testbed.WaitServing(context.Background(), sock, exited, 15*time.Second); err != nil {
		<-exited
		t.Fatalf("%v\ndriver output:\n%s", err, logs.String())
	}
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	info, err := csi.NewNodeClient(conn).NodeGetInfo(ctx, &csi.NodeGetInfoRequest{})
	if err != nil {
		t.Fatalf("NodeGetInfo: %v\ndriver output:\n%s", err, logs.String())
	}
	return info
}

// configDrive builds a vfat image labelled config-2 holding meta_data.json, plugs
// it as a loop device and links it as udev would, at /dev/disk/by-label/config-2.
func configDrive(t *testing.T, metaData string) string {
	t.Helper()
	const link = "/dev/disk/by-label/config-2"
	if _, err := os.Lstat(link); err == nil {
		t.Fatalf("%s exists already: this machine has a config drive, refusing to replace it", link)
	}
	dir := t.TempDir()
	img := filepath.Join(dir, "config-2.img")
	run := func(name string, args ...string) string {
		t.Helper()
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v: %s", name, args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run("truncate", "-s", "16M", img)
	// Nova writes iso9660 (or vfat); this sandbox's kernel mounts neither, so the
	// drive is ext4 where vfat is missing, read through the driver's "auto" mount.
	fs := "vfat"
	if !kernelHas("vfat") {
		fs = "ext4"
	}
	if fs == "vfat" {
		run("mkfs.vfat", "-n", "config-2", img)
	} else {
		run("mkfs.ext4", "-q", "-L", "config-2", img)
	}
	t.Logf("config drive image: %s, label config-2", fs)
	mnt := filepath.Join(dir, "mnt")
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	run("mount", "-o", "loop", img, mnt)
	if err := os.MkdirAll(filepath.Join(mnt, "openstack", "latest"), 0o755); err == nil {
		err = os.WriteFile(filepath.Join(mnt, "openstack", "latest", "meta_data.json"), []byte(metaData), 0o644)
		if err != nil {
			t.Error(err)
		}
	}
	run("umount", mnt)
	dev := run("losetup", "--find", "--show", img)
	t.Cleanup(func() { _ = exec.Command("losetup", "-d", dev).Run() })
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(dev, link); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(link) })
	return dev
}

// kernelHas reports whether the running kernel mounts filesystem fs.
func kernelHas(fs string) bool {
	data, err := os.ReadFile("/proc/filesystems")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[len(f)-1] == fs {
			return true
		}
	}
	return false
}
