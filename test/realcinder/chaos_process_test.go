package realcinder_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// driverProcess is the real binary, started again after each SIGKILL, as the kubelet
// restarts a crashed container. Its output goes to one log file across the restarts.
type driverProcess struct {
	bin, sock, log string
	args           []string

	mu    sync.Mutex
	cmd   *exec.Cmd
	done  chan struct{}
	kills int
}

func newDriverProcess(bin, dir, name string, args ...string) *driverProcess {
	sock := filepath.Join(dir, name+".sock")
	return &driverProcess{bin: bin, sock: sock, log: filepath.Join(dir, name+".log"),
		args: append([]string{"--endpoint=unix://" + sock, "--v=4"}, args...)}
}

func (p *driverProcess) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	fmt.Fprintf(f, "=== start %s\n", time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); f.Close(); close(done) }()
	p.cmd, p.done = cmd, done
	return nil
}

// kill SIGKILLs the process and waits until it is gone.
func (p *driverProcess) kill() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.kills++
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// stop ends the process with SIGTERM, as at the end of a pod.
func (p *driverProcess) stop() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// conn is a new connection for one call: a sidecar's connection to a restarted
// plugin must not wait out gRPC's reconnect backoff.
func (p *driverProcess) conn() (*grpc.ClientConn, error) {
	return grpc.NewClient("unix://"+p.sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
}

// killer SIGKILLs and restarts p, every() apart, until ctx ends.
func (p *driverProcess) killer(ctx context.Context, t *testing.T, every func() time.Duration) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(every()):
		}
		p.kill()
		if err := p.start(); err != nil {
			t.Errorf("restarting the driver: %v", err)
			return
		}
	}
}

// keepLog copies a process log out of the test's directory, which is removed, and
// says where it is.
func keepLog(t *testing.T, path string) {
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Logf("no log at %s: %v", path, err)
		return
	}
	out := filepath.Join(os.TempDir(), strings.ReplaceAll(t.Name(), "/", "_")+"-"+filepath.Base(path))
	if err := os.WriteFile(out, raw, 0o600); err != nil {
		t.Logf("keeping %s: %v", path, err)
		return
	}
	t.Logf("the process's log (all its lives): %s", out)
}

// reportedNodeID is the node ID p's node service reports, as the node-driver-registrar
// hands it to Kubernetes.
func reportedNodeID(ctx context.Context, t *testing.T, p *driverProcess) string {
	t.Helper()
	conn, err := p.conn()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	info, err := csi.NewNodeClient(conn).NodeGetInfo(wctx, &csi.NodeGetInfoRequest{}, grpc.WaitForReady(true))
	if err != nil {
		t.Fatalf("NodeGetInfo: %v", err)
	}
	return info.GetNodeId()
}
