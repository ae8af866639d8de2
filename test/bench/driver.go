package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/cinder-csi/cinder-csi-driver/test/internal/testbed"
)

// driverProcess is the real binary in controller mode on a unix socket.
type driverProcess struct {
	cmd  *exec.Cmd
	conn *grpc.ClientConn
	ctrl csi.ControllerClient
	log  string
	// exited is closed once the process has ended.
	exited <-chan struct{}
}

// startDriver runs bin with args on a socket in dir and waits until it answers
// Probe. Its log goes to dir/<name>.log.
func startDriver(ctx context.Context, bin, dir, name string, args ...string) (*driverProcess, error) {
	sock := filepath.Join(dir, name+".sock")
	_ = os.Remove(sock)
	logPath := filepath.Join(dir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, append([]string{"--endpoint=unix://" + sock}, args...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	d := &driverProcess{cmd: cmd, log: logPath}
	d.exited, _ = testbed.Run(cmd.Wait)
	if err := testbed.WaitServing(ctx, sock, d.exited, 2*time.Minute); err != nil {
		d.stop()
		return nil, fmt.Errorf("driver %s: %w (%v); log %s", name, err, cmd.ProcessState, logPath)
	}
	d.conn, err = grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		d.stop()
		return nil, err
	}
	d.ctrl = csi.NewControllerClient(d.conn)
	if _, err := csi.NewIdentityClient(d.conn).Probe(ctx, &csi.ProbeRequest{}); err != nil {
		d.stop()
		return nil, fmt.Errorf("driver %s Probe: %w; log %s", name, err, logPath)
	}
	return d, nil
}

func (d *driverProcess) stop() {
	if d.conn != nil {
		_ = d.conn.Close()
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(30 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.exited
	}
}

// memory returns the process's resident set now and its peak (VmRSS, VmHWM) in KiB.
func (d *driverProcess) memory() (rss, peak int, err error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", d.cmd.Process.Pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		n, _ := strconv.Atoi(f[1])
		switch f[0] {
		case "VmRSS:":
			rss = n
		case "VmHWM:":
			peak = n
		}
	}
	return rss, peak, nil
}
