// Package e2e proves the driver on a real Kubernetes control plane (etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler on 127.0.0.1) with the
// real CSI sidecars and snapshot-controller, against the real local Cinder. There
// is no kubelet: the test makes the Node and CSINode objects (and, for the
// Immediate claims, the VolumeAttachments) itself and plays kubelet by calling the
// driver's node service and reporting volumesInUse in the Node's status.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// Kube runs kubectl against the test's control plane.
type Kube struct {
	Kubectl, Kubeconfig string
}

// Run runs kubectl with args (stdin if given) and returns its output.
func (k Kube) Run(ctx context.Context, stdin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, k.Kubectl, append([]string{"--kubeconfig", k.Kubeconfig}, args...)...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("kubectl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// Apply applies a manifest.
func (k Kube) Apply(ctx context.Context, manifest string) error {
	_, err := k.Run(ctx, manifest, "apply", "-f", "-")
	return err
}

// Get returns the object as a generic JSON map.
func (k Kube) Get(ctx context.Context, args ...string) (map[string]any, error) {
	out, err := k.Run(ctx, "", append([]string{"get", "-o", "json"}, args...)...)
	if err != nil {
		return nil, err
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(out), &obj); err != nil {
		return nil, fmt.Errorf("kubectl get %v: %w", args, err)
	}
	return obj, nil
}

// WaitFor polls the object every 100 ms until cond holds on it, up to timeout,
// and returns the time it took. The error tells the last state seen.
func (k Kube) WaitFor(ctx context.Context, timeout time.Duration, what string, cond func(obj map[string]any) bool, args ...string) (time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last string
	for {
		obj, err := k.Get(ctx, args...)
		if err == nil && cond(obj) {
			return time.Since(start), nil
		}
		if err != nil {
			last = err.Error()
		} else {
			st, _ := json.Marshal(obj["status"])
			last = "status " + string(st)
		}
		select {
		case <-ctx.Done():
			return time.Since(start), fmt.Errorf("waiting for %s: %w; last seen: %s", what, ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// WaitGone polls until kubectl get says NotFound.
func (k Kube) WaitGone(ctx context.Context, timeout time.Duration, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		_, err := k.Get(ctx, args...)
		if err != nil && strings.Contains(err.Error(), "NotFound") {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %v to be deleted: %w (last: %v)", args, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Field digs a nested field out of a JSON map: Field(obj, "status", "phase").
func Field(obj map[string]any, path ...string) any {
	var cur any = obj
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}

// Str is Field as a string ("" when absent).
func Str(obj map[string]any, path ...string) string {
	s, _ := Field(obj, path...).(string)
	return s
}
