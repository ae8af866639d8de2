// Command demo is `make demo`: it starts the csi-driver binary against the local
// Cinder (make cinder-up) and walks a volume through its life over the CSI API, the
// way the Kubernetes sidecars and kubelet would, printing each step.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/cinder-csi/cinder-csi-driver/test/internal/testbed"
)

func main() {
	bin := flag.String("driver", "bin/csi-driver", "the csi-driver binary")
	work := flag.String("work", ".cache/demo", "directory for the socket, mounts and the driver's log")
	flag.Parse()
	if err := run(*bin, *work); err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

func run(bin, work string) error {
	clouds, err := testbed.CloudsFile()
	if err != nil {
		return err
	}
	work, _ = filepath.Abs(work)
	_ = os.RemoveAll(work)
	if err := os.MkdirAll(work, 0o750); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	sock := filepath.Join(work, "csi.sock")
	logPath := filepath.Join(work, "driver.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	args := []string{"--endpoint", "unix://" + sock, "--cloud-config", clouds, "--cloud", "local",
		"--mode", "all", "--attacher", "cinder", "--node-id", "demo-node-a", "--zone", "nova",
		"--cluster", "demo", "--expand-in-use=false", "--snapshot-in-use=false",
		"--http-endpoint", "127.0.0.1:9808", "-v=2"}
	fmt.Printf("Starting %s %v\n  (its log: %s)\n", bin, args, logPath)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		fmt.Println("Driver stopped (SIGTERM, graceful). The local Cinder keeps running: `make cinder-down` stops it.")
	}()
	if err := waitHealthy(ctx, "http://127.0.0.1:9808/healthz"); err != nil {
		return fmt.Errorf("the driver did not become healthy (see %s): %w", logPath, err)
	}
	fmt.Println("Driver is healthy. Walking a volume's life through the CSI API (Cinder-attachments path, real mounts):")
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	w := testbed.NewWalk(conn, work, [2]string{"demo-node-a", "demo-node-b"}, func(f string, a ...any) { fmt.Printf("  "+f+"\n", a...) })
	wctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	start := time.Now()
	if err := w.Run(wctx); err != nil {
		return err
	}
	fmt.Printf("Done in %s: every volume, snapshot and backup was deleted again.\n", time.Since(start).Round(time.Second))
	return nil
}

func waitHealthy(ctx context.Context, url string) error {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return errors.New("timed out")
}
