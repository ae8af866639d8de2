package fake

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
)

// Cloud is the in-memory cloud. The zero value is not usable: call New.
type Cloud struct {
	mu        sync.Mutex
	volumes   map[string]*cinder.Volume
	snapshots map[string]*snapshot
	backups   map[string]*snapshot
	// groupSnapshots are the group snapshots (groups.go).
	groupSnapshots map[string]*groupSnapshot
	servers        map[string]bool
	// connectors records the Node each attachment was made for (Connector).
	connectors map[string]cinder.Node
	types      map[string]VolumeType
	zones      []string
	limits     cinder.Limits
	latency    time.Duration
	fileDir    string
	calls      map[string]int
	failures   map[string][]error
	gates      map[string]*gate // Block
}

// VolumeType is a volume type the fake knows.
type VolumeType struct {
	Name        string
	Multiattach bool
}

type snapshot struct {
	cinder.Snapshot
	readyAt time.Time
}

// Options configure a fake cloud.
type Options struct {
	// Latency is how long a volume stays "creating" and a snapshot "creating".
	Latency time.Duration
	// FileDir, when set, makes every volume a sparse file volume-<id> in this directory,
	// handed to nodes by the Cinder attacher as driver_volume_type "file".
	FileDir string
	// Types are the volume types; the first is the default. Default: standard, fast,
	// and multiattach (a multiattach type).
	Types []VolumeType
	// Zones are the availability zones; the first is the default. Default: nova.
	Zones []string
	// MaxTotalGiB is the gigabytes quota; < 0 unlimited (default 1000).
	MaxTotalGiB int
}

// New returns an empty fake cloud.
func New(o Options) *Cloud {
	if len(o.Types) == 0 {
		o.Types = []VolumeType{{Name: "standard"}, {Name: "fast"}, {Name: "multiattach", Multiattach: true}}
	}
	if len(o.Zones) == 0 {
		o.Zones = []string{"nova"}
	}
	if o.MaxTotalGiB == 0 {
		o.MaxTotalGiB = 1000
	}
	c := &Cloud{
		volumes:        map[string]*cinder.Volume{},
		snapshots:      map[string]*snapshot{},
		backups:        map[string]*snapshot{},
		groupSnapshots: map[string]*groupSnapshot{},
		servers:        map[string]bool{},
		types:          map[string]VolumeType{},
		zones:          o.Zones,
		limits:         cinder.Limits{MaxTotalGiB: o.MaxTotalGiB},
		latency:        o.Latency,
		fileDir:        o.FileDir,
		calls:          map[string]int{},
		failures:       map[string][]error{},
	}
	for i, t := range o.Types {
		c.types[t.Name] = t
		if i == 0 {
			c.types[""] = t
		}
	}
	return c
}

// InjectError makes the next call of method (e.g. "CreateVolume") fail with err.
// Several injections for one method fail that many calls, in order.
func (c *Cloud) InjectError(method string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failures[method] = append(c.failures[method], err)
}

// Calls returns how often method was called.
func (c *Cloud) Calls(method string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[method]
}

// AddServer registers a Nova server (node) for the Nova attacher.
func (c *Cloud) AddServer(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.servers[id] = true
}

// DeleteServer removes a Nova server; its attachments disappear as Nova's would.
func (c *Cloud) DeleteServer(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.servers, id)
	for _, v := range c.volumes {
		c.detachLocked(v, id)
	}
}

// SetVolumeStatus forces a volume's status, to model stuck or failed volumes.
func (c *Cloud) SetVolumeStatus(id, status string) { c.SetVolumeStatusSince(id, status, time.Now()) }

// SetVolumeStatusSince forces a volume's status as Cinder would show it had it been in
// it since then (updated_at), to model a transition stuck for a while.
func (c *Cloud) SetVolumeStatusSince(id, status string, since time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.volumes[id]; ok {
		v.Status, v.UpdatedAt = status, since
	}
}

// setStatus changes a volume's status and, as Cinder does, its updated_at.
func setStatus(v *cinder.Volume, status string) {
	v.Status, v.UpdatedAt = status, time.Now()
}

// Counts returns how many volumes, snapshots and backups exist (for leak checks).
func (c *Cloud) Counts() (volumes, snapshots, backups int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.volumes), len(c.snapshots), len(c.backups)
}

// enter counts a call, holds it at a Block of its method, and pops an injected
// failure; the caller holds no lock.
func (c *Cloud) enter(method string) error {
	c.mu.Lock()
	c.calls[method]++
	g := c.gates[method]
	c.mu.Unlock()
	if g != nil {
		g.arrived <- struct{}{}
		<-g.open
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if errs := c.failures[method]; len(errs) > 0 {
		c.failures[method] = errs[1:]
		return errs[0]
	}
	return nil
}

type gate struct {
	arrived chan struct{}
	open    chan struct{}
}

// Block holds every call of method (e.g. "CreateVolume") inside the fake, before it
// does anything, until release runs; arrived yields once per call held. For race
// tests: one call is kept in the cloud for as long as the test needs while others
// come. At most 64 calls may wait unnoticed on arrived.
func (c *Cloud) Block(method string) (arrived <-chan struct{}, release func()) {
	g := &gate{arrived: make(chan struct{}, 64), open: make(chan struct{})}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gates == nil {
		c.gates = map[string]*gate{}
	}
	c.gates[method] = g
	var once sync.Once
	return g.arrived, func() {
		once.Do(func() {
			c.mu.Lock()
			delete(c.gates, method)
			c.mu.Unlock()
			close(g.open)
		})
	}
}

func (c *Cloud) sleep(ctx context.Context) error {
	if c.latency <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(c.latency)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("waiting for cloud: %w", ctx.Err())
	case <-t.C:
		return nil
	}
}

// NewID returns a random version-4 UUID, the shape of every Cinder ID.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func notFound(kind, id string) error {
	return fmt.Errorf("%s %s could not be found: %w", kind, id, cinder.ErrNotFound)
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// page applies marker/limit paging to IDs sorted by creation.
func page[T any](items []T, id func(T) string, o cinder.ListOpts) ([]T, string, error) {
	start := 0
	if o.Marker != "" {
		start = -1
		for i, it := range items {
			if id(it) == o.Marker {
				start = i + 1
				break
			}
		}
		if start < 0 {
			return nil, "", fmt.Errorf("marker %s not found: %w", o.Marker, cinder.ErrInvalidInput)
		}
	}
	items = items[start:]
	if o.Limit > 0 && len(items) > o.Limit {
		items = items[:o.Limit]
		return items, id(items[len(items)-1]), nil
	}
	return items, "", nil
}

func sortByCreation[T any](items []T, at func(T) time.Time, id func(T) string) {
	sort.Slice(items, func(i, j int) bool {
		if a, b := at(items[i]), at(items[j]); !a.Equal(b) {
			return a.Before(b)
		}
		return id(items[i]) < id(items[j])
	})
}

// file helpers: the volume's data lives in a sparse file when FileDir is set.
func (c *Cloud) volumeFile(id string) string { return filepath.Join(c.fileDir, "volume-"+id) }

func (c *Cloud) makeFile(path, from string, sizeGiB int) error {
	if c.fileDir == "" {
		return nil
	}
	if from != "" {
		if err := copySparse(from, path); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Truncate(int64(sizeGiB) << 30)
}

func (c *Cloud) removeFile(path string) {
	if c.fileDir != "" && strings.HasPrefix(path, c.fileDir) {
		_ = os.Remove(path)
	}
}
