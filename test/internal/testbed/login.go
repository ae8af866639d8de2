package testbed

import (
	"context"
	"fmt"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/config/clouds"
)

// Clients are the tests' own OpenStack clients, apart from the driver's: what an
// operator or a compute host would use with the same credentials.
type Clients struct {
	// Compute speaks Nova 2.37 (servers with "networks": "none").
	Compute *gophercloud.ServiceClient
	// Volume speaks Cinder 3.44 (attachments API, complete).
	Volume *gophercloud.ServiceClient
}

// Login logs in to a cloud of the test bed's clouds.yaml. The cloud's catalog must
// list Nova as well as Cinder (make openstack-up).
func Login(ctx context.Context, cloud string) (*Clients, error) {
	pc, eo, err := authenticate(ctx, cloud)
	if err != nil {
		return nil, err
	}
	compute, err := openstack.NewComputeV2(pc, eo)
	if err != nil {
		return nil, fmt.Errorf("no Nova in cloud %s (start it with make openstack-up): %w", cloud, err)
	}
	compute.Microversion = "2.37"
	volume, err := openstack.NewBlockStorageV3(pc, eo)
	if err != nil {
		return nil, fmt.Errorf("no Cinder v3 in cloud %s: %w", cloud, err)
	}
	volume.Microversion = "3.44"
	return &Clients{Compute: compute, Volume: volume}, nil
}

// VolumeClient logs in to a cloud of the test bed's clouds.yaml and returns a Cinder
// v3 client at microversion mv; the cloud needs no Nova.
func VolumeClient(ctx context.Context, cloud, mv string) (*gophercloud.ServiceClient, error) {
	pc, eo, err := authenticate(ctx, cloud)
	if err != nil {
		return nil, err
	}
	volume, err := openstack.NewBlockStorageV3(pc, eo)
	if err != nil {
		return nil, fmt.Errorf("no Cinder v3 in cloud %s: %w", cloud, err)
	}
	volume.Microversion = mv
	return volume, nil
}

func authenticate(ctx context.Context, cloud string) (*gophercloud.ProviderClient, gophercloud.EndpointOpts, error) {
	path, err := CloudsFile()
	if err != nil {
		return nil, gophercloud.EndpointOpts{}, err
	}
	ao, eo, _, err := clouds.Parse(clouds.WithCloudName(cloud), clouds.WithLocations(path))
	if err != nil {
		return nil, eo, fmt.Errorf("cloud %s in %s: %w", cloud, path, err)
	}
	ao.AllowReauth = true
	pc, err := openstack.AuthenticatedClient(ctx, ao)
	if err != nil {
		return nil, eo, fmt.Errorf("log in to cloud %s: %w", cloud, err)
	}
	return pc, eo, nil
}
