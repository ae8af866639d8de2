package cinder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"k8s.io/klog/v2"
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
	// ConfigDrive reads a file of the config drive and says where it read it
	// (mount.ConfigDrive.ReadFile: mounting is the host's business, not this
	// package's); nil means this node has no way to read one.
	ConfigDrive func(ctx context.Context, path string) (data []byte, from string, err error)
	// Order lists the sources to try; empty means config drive, then metadata service.
	Order []string
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
	if m.ConfigDrive == nil {
		return nil, errors.New("no config drive reader")
	}
	data, from, err := m.ConfigDrive(ctx, metadataPath)
	if err != nil {
		return nil, err
	}
	return parseMetadata(data, from)
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
