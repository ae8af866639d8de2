package cinder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/klog/v2"
	"k8s.io/utils/exec"
)

// InstanceMetadata is what a node learns about itself from OpenStack, without
// credentials: its Nova UUID (the node ID), name and availability zone (topology).
type InstanceMetadata struct {
	UUID             string
	Name             string
	AvailabilityZone string
}

// Metadata sources, for MetadataSource.Order (spelt as in cloud.conf's
// [Metadata] search-order).
const (
	MetadataConfigDrive     = "configDrive"
	MetadataMetadataService = "metadataService"
)

const (
	defaultMetadataURL = "http://169.254.169.254"
	metadataPath       = "openstack/latest/meta_data.json"
)

// MetadataSource reads the instance metadata from the config drive or the
// metadata service, in Order. The zero value is ready to use on an instance.
type MetadataSource struct {
	// URL is the metadata service's base URL; empty means http://169.254.169.254.
	URL string
	// ConfigDriveDevice is the config drive's block device; empty means
	// /dev/disk/by-label/config-2 (or CONFIG-2, as vfat drives are labelled).
	ConfigDriveDevice string
	// Order lists the sources to try; empty means config drive, then metadata service.
	Order []string
	// Exec runs mount and umount; nil means the host's.
	Exec exec.Interface
	// Timeout bounds one metadata service request; 0 means 10 seconds.
	Timeout time.Duration
}

// Get returns the instance metadata from the first source that has it. The error
// lists why each source failed.
func (m *MetadataSource) Get(ctx context.Context) (*InstanceMetadata, error) {
	order := m.Order
	if len(order) == 0 {
		order = []string{MetadataConfigDrive, MetadataMetadataService}
	}
	var errs []string
	for _, src := range order {
		var md *InstanceMetadata
		var err error
		switch src {
		case MetadataConfigDrive:
			md, err = m.fromConfigDrive(ctx)
		case MetadataMetadataService:
			md, err = m.fromService(ctx)
		default:
			return nil, fmt.Errorf("unknown metadata source %q: use %s or %s", src, MetadataConfigDrive, MetadataMetadataService)
		}
		if err == nil {
			klog.V(2).InfoS("Read instance metadata", "source", src, "nodeID", md.UUID, "name", md.Name, "zone", md.AvailabilityZone)
			return md, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("instance metadata: %w", ctx.Err())
		}
		klog.V(2).InfoS("Instance metadata source failed, trying the next", "source", src, "err", err)
		errs = append(errs, src+": "+err.Error())
	}
	return nil, fmt.Errorf("no instance metadata: %s", strings.Join(errs, "; "))
}

func (m *MetadataSource) fromService(ctx context.Context) (*InstanceMetadata, error) {
	url := strings.TrimSuffix(firstNonEmpty(m.URL, defaultMetadataURL), "/") + "/" + metadataPath
	timeout := m.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	// No proxy: the link-local service must be reached directly, whatever
	// HTTP_PROXY the node's environment carries.
	client := &http.Client{Timeout: timeout, Transport: &http.Transport{Proxy: nil}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	return parseMetadata(body, url)
}

func (m *MetadataSource) fromConfigDrive(ctx context.Context) (*InstanceMetadata, error) {
	dev, err := m.configDriveDevice()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "cinder-csi-configdrive-")
	if err != nil {
		return nil, err
	}
	ex := m.Exec
	if ex == nil {
		ex = exec.New()
	}
	var mountErrs []string
	mounted := false
	// Nova writes config drives as iso9660, or vfat when config_drive_format says so;
	// other provisioning tools write what they like, so the kernel's own detection
	// ("auto") comes last.
	for _, fs := range []string{"iso9660", "vfat", "auto"} {
		out, err := ex.CommandContext(ctx, "mount", "-t", fs, "-o", "ro", dev, dir).CombinedOutput()
		if err == nil {
			mounted = true
			break
		}
		mountErrs = append(mountErrs, fmt.Sprintf("as %s: %v: %s", fs, err, strings.TrimSpace(string(out))))
	}
	if !mounted {
		_ = os.Remove(dir)
		return nil, fmt.Errorf("mount config drive %s: %s", dev, strings.Join(mountErrs, "; "))
	}
	defer unmountConfigDrive(ex, dir)

	path := filepath.Join(dir, metadataPath)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config drive %s: %w", dev, err)
	}
	return parseMetadata(data, dev+":"+metadataPath)
}

// unmountConfigDrive runs even when the caller's context has ended: a config
// drive left mounted in a temporary directory would leak.
func unmountConfigDrive(ex exec.Interface, dir string) {
	if out, err := ex.Command("umount", dir).CombinedOutput(); err != nil {
		klog.ErrorS(err, "Could not unmount the config drive; leaving its directory", "dir", dir, "output", strings.TrimSpace(string(out)))
		return
	}
	if err := os.Remove(dir); err != nil {
		klog.ErrorS(err, "Could not remove the config drive's temporary directory", "dir", dir)
	}
}

func (m *MetadataSource) configDriveDevice() (string, error) {
	candidates := []string{"/dev/disk/by-label/config-2", "/dev/disk/by-label/CONFIG-2"}
	if m.ConfigDriveDevice != "" {
		candidates = []string{m.ConfigDriveDevice}
	}
	for _, c := range candidates {
		if _, err := os.Stat(c); err == nil {
			return c, nil
		}
	}
	return "", fmt.Errorf("no config drive: none of %s exists", strings.Join(candidates, ", "))
}

func parseMetadata(data []byte, from string) (*InstanceMetadata, error) {
	var md struct {
		UUID             string `json:"uuid"`
		Name             string `json:"name"`
		AvailabilityZone string `json:"availability_zone"`
	}
	if err := json.Unmarshal(data, &md); err != nil {
		return nil, fmt.Errorf("parse %s: %w", from, err)
	}
	if md.UUID == "" {
		return nil, errors.New(from + " has no uuid")
	}
	return &InstanceMetadata{UUID: md.UUID, Name: md.Name, AvailabilityZone: md.AvailabilityZone}, nil
}
