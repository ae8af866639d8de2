package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/config/clouds"
	"gopkg.in/yaml.v2"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
	"github.com/cinder-csi/cinder-csi-driver/test/internal/inventory"
	"github.com/cinder-csi/cinder-csi-driver/test/internal/testbed"
	"github.com/cinder-csi/cinder-csi-driver/test/realnova"
)

// bed is what a bench run uses: the proxy, the proxied clouds.yaml, the drivers,
// the baseline's clients, a Nova server, and the inventory taken before anything.
type bed struct {
	o       benchOptions
	dir     string
	proxy   *countingProxy
	clouds  string // proxied clouds.yaml
	keyFlag string // --publish-key-file=…
	ours    *ours
	direct  *direct
	// check is the bench's own unproxied client, for the inventory.
	check      *cinder.Client
	stack      *realnova.Stack
	servers    []*realnova.Server
	before     map[string]string
	listers    []inventory.Lister
	cinderNode target
	// novaNodes are the servers, one per novaPerServer workers: Nova here allows
	// max_disk_devices_to_attach = 4 per server, and the boot volume is one.
	novaNodes []target
	// fill are the volumes scale made to grow the project.
	fillMu sync.Mutex
	fill   []string
}

func setUp(ctx context.Context, o benchOptions) (*bed, error) {
	b := &bed{o: o}
	var err error
	if b.dir, err = os.MkdirTemp("", "cinder-csi-bench-"); err != nil {
		return nil, err
	}
	if b.check, err = testbed.Client(ctx, o.cloud); err != nil {
		return nil, fmt.Errorf("the test bed's Cinder (make cinder-up): %w", err)
	}
	b.listers = []inventory.Lister{inventory.Cinder(b.check)}
	if o.nova {
		if b.stack, err = realnova.NewStack(ctx, o.cloud); err != nil {
			return nil, fmt.Errorf("the test bed's Nova (make openstack-up, or -nova=false): %w", err)
		}
		b.listers = append(b.listers, inventory.Servers(b.stack.Compute))
	}
	if b.before, err = inventory.Take(ctx, b.listers...); err != nil {
		return nil, err
	}
	if err := b.startProxy(ctx); err != nil {
		return b, err
	}
	if b.keyFlag, err = testbed.WritePublishKey(b.dir); err != nil {
		return b, err
	}
	host := fmt.Sprintf("bench-%d", os.Getpid())
	b.cinderNode = target{id: testbed.NodeID(host), server: host}
	if o.nova {
		for i := range (slices.Max(o.conc) + novaPerServer - 1) / novaPerServer {
			srv, err := b.stack.BootServer(ctx, fmt.Sprintf("%s-%d", host, i))
			if err != nil {
				return b, err
			}
			b.servers = append(b.servers, srv)
			b.novaNodes = append(b.novaNodes, target{nova: true, id: srv.ID, server: srv.ID})
		}
	}
	b.ours = &ours{}
	if b.ours.cinderPath, err = b.startDriver(ctx, "cinder"); err != nil {
		return b, err
	}
	if o.nova {
		if b.ours.novaPath, err = b.startDriver(ctx, "nova"); err != nil {
			return b, err
		}
	}
	return b, nil
}

// startProxy starts the counting proxy, writes a clouds.yaml whose cloud goes
// through it and logs the baseline in through it.
func (b *bed) startProxy(ctx context.Context) error {
	path, err := testbed.CloudsFile()
	if err != nil {
		return err
	}
	ao, eo, _, err := clouds.Parse(clouds.WithCloudName(b.o.cloud), clouds.WithLocations(path))
	if err != nil {
		return err
	}
	// The catalog, read once without the proxy, names the services' ports.
	pc, err := openstack.AuthenticatedClient(ctx, ao)
	if err != nil {
		return err
	}
	names := map[string]string{}
	idPort, err := portOf(ao.IdentityEndpoint)
	if err != nil {
		return err
	}
	names[idPort] = "identity"
	vc, err := openstack.NewBlockStorageV3(pc, eo)
	if err != nil {
		return err
	}
	if names[mustPort(vc.Endpoint)] = "volume"; b.o.nova {
		cc, err := openstack.NewComputeV2(pc, eo)
		if err != nil {
			return err
		}
		names[mustPort(cc.Endpoint)] = "compute"
	}
	if b.proxy, err = newCountingProxy(names); err != nil {
		return err
	}

	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var doc map[string]map[string]map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return err
	}
	cloud := doc["clouds"][b.o.cloud]
	auth, _ := cloud["auth"].(map[any]any)
	if auth == nil {
		return fmt.Errorf("cloud %s in %s has no auth section", b.o.cloud, path)
	}
	auth["auth_url"] = b.proxy.via(ao.IdentityEndpoint)
	out, err := yaml.Marshal(map[string]any{"clouds": map[string]any{b.o.cloud: cloud}})
	if err != nil {
		return err
	}
	b.clouds = filepath.Join(b.dir, "clouds.yaml")
	if err := os.WriteFile(b.clouds, out, 0o600); err != nil {
		return err
	}

	ao, eo, _, err = clouds.Parse(clouds.WithCloudName(b.o.cloud), clouds.WithLocations(b.clouds))
	if err != nil {
		return err
	}
	ao.AllowReauth = true
	ppc, err := openstack.AuthenticatedClient(ctx, ao)
	if err != nil {
		return fmt.Errorf("log in through the proxy: %w", err)
	}
	b.direct = &direct{atts: map[string]string{}}
	if b.direct.vc, err = openstack.NewBlockStorageV3(ppc, eo); err != nil {
		return err
	}
	b.direct.vc.Microversion = "3.44"
	if b.o.nova {
		if b.direct.cc, err = openstack.NewComputeV2(ppc, eo); err != nil {
			return err
		}
		b.direct.cc.Microversion = "2.37"
	}
	return nil
}

func mustPort(u string) string {
	p, err := portOf(u)
	if err != nil {
		return "?"
	}
	return p
}

// startDriver runs the real binary as a controller on attach path attacher,
// talking to the cloud through the proxy.
func (b *bed) startDriver(ctx context.Context, attacher string) (*driverProcess, error) {
	return startDriver(ctx, b.o.bin, b.dir, "controller-"+attacher,
		"--mode=controller", "--attacher="+attacher, "--cloud-config="+b.clouds, "--cloud="+b.o.cloud,
		"--cluster=bench", "--metadata-url=http://127.0.0.1:9", b.keyFlag,
		"--expand-in-use=false", "--snapshot-in-use=false", "--v=1")
}

// tearDown stops the drivers, deletes the servers and waits until the project's
// inventory is as before: anything left is an error naming it.
func (b *bed) tearDown(ctx context.Context, failed bool) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Minute)
	defer cancel()
	var errs []error
	if b.ours != nil {
		for _, d := range []*driverProcess{b.ours.cinderPath, b.ours.novaPath} {
			if d != nil {
				d.stop()
			}
		}
	}
	errs = append(errs, b.dropFill(ctx))
	for _, srv := range b.servers {
		errs = append(errs, b.stack.DeleteServer(ctx, srv))
	}
	if b.proxy != nil {
		b.proxy.close()
	}
	if b.before != nil {
		left, err := inventory.Settle(ctx, b.before, 5*time.Minute, b.listers...)
		errs = append(errs, err)
		if len(left) > 0 {
			errs = append(errs, fmt.Errorf("the project differs from before the bench: %v", left))
		} else if err == nil {
			fmt.Printf("bench: inventory as before (%d things)\n", len(b.before))
		}
	}
	if err := errors.Join(errs...); err != nil || failed {
		fmt.Printf("bench: drivers' logs kept in %s\n", b.dir)
		return err
	}
	return os.RemoveAll(b.dir)
}
