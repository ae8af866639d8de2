package inventory

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
)

// A Lister adds one service's share of the project to an inventory, each thing as
// "<kind> <id>" -> its name.
type Lister func(ctx context.Context, into map[string]string) error

// Cinder lists every volume, snapshot, backup and attachment (reserved ones too),
// and every group and group snapshot.
func Cinder(cloud *cinder.Client) Lister {
	return func(ctx context.Context, out map[string]string) error {
		vols, _, err := cloud.ListVolumes(ctx, cinder.ListOpts{})
		if err != nil {
			return err
		}
		for _, v := range vols {
			out["volume "+v.ID] = v.Name
			for _, a := range v.Attachments {
				out["attachment "+a.AttachmentID] = v.ID
			}
		}
		snaps, _, err := cloud.ListSnapshots(ctx, cinder.SnapshotListOpts{})
		if err != nil {
			return err
		}
		for _, s := range snaps {
			out["snapshot "+s.ID] = s.Name
		}
		backups, _, err := cloud.ListBackups(ctx, cinder.SnapshotListOpts{})
		if err != nil {
			return err
		}
		for _, b := range backups {
			out["backup "+b.ID] = b.Name
		}
		// Reserved attachments (an attach that never completed) show only here.
		atts, err := cloud.AttachmentIDs(ctx, "")
		if err != nil {
			return err
		}
		for _, a := range atts {
			id, rest, _ := strings.Cut(a, " ")
			out["attachment "+id] = rest
		}
		groups, err := cloud.GroupObjects(ctx)
		if err != nil {
			return err
		}
		for what, name := range groups {
			out[what] = name
		}
		return nil
	}
}

// Servers lists every Nova server of the project; one being deleted counts until
// Nova no longer lists it.
func Servers(compute *gophercloud.ServiceClient) Lister {
	return func(ctx context.Context, out map[string]string) error {
		pages, err := servers.List(compute, servers.ListOpts{}).AllPages(ctx)
		if err != nil {
			return err
		}
		list, err := servers.ExtractServers(pages)
		if err != nil {
			return err
		}
		for _, s := range list {
			out["server "+s.ID] = s.Name
		}
		return nil
	}
}

// Take is one inventory of what the listers see.
func Take(ctx context.Context, listers ...Lister) (map[string]string, error) {
	out := map[string]string{}
	for _, l := range listers {
		if err := l(ctx, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Inventory is every volume, snapshot, backup and attachment in the project.
func Inventory(ctx context.Context, cloud *cinder.Client) (map[string]string, error) {
	return Take(ctx, Cinder(cloud))
}

// Leftovers waits up to timeout for everything the project holds that is not in
// before to go, and returns what is still there, sorted ("volume <id> (<name>)").
// What went missing from before is not its concern (see Settle).
func Leftovers(ctx context.Context, cloud *cinder.Client, before map[string]string, timeout time.Duration) ([]string, error) {
	return wait(ctx, before, timeout, false, Cinder(cloud))
}

// Settle waits up to timeout for the inventory to equal before again, and returns
// the differences, sorted: what is new ("volume <id> (<name>)") and what is gone
// ("gone: volume <id> (<name>)"). Deletes are asynchronous in Cinder and Nova, so a
// test's cleanup is done only when Settle returns nothing.
func Settle(ctx context.Context, before map[string]string, timeout time.Duration, listers ...Lister) ([]string, error) {
	return wait(ctx, before, timeout, true, listers...)
}

func wait(ctx context.Context, before map[string]string, timeout time.Duration, gone bool, listers ...Lister) ([]string, error) {
	deadline := time.Now().Add(timeout)
	for {
		now, err := Take(ctx, listers...)
		if err != nil {
			return nil, err
		}
		left := diff(before, now)
		if gone {
			for _, g := range diff(now, before) {
				left = append(left, "gone: "+g)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			sort.Strings(left)
			return left, nil
		}
		select {
		case <-ctx.Done():
			sort.Strings(left)
			return left, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// diff lists what b holds that a does not, as "<kind> <id> (<name>)".
func diff(a, b map[string]string) []string {
	var out []string
	for what, name := range b {
		if _, ok := a[what]; !ok {
			out = append(out, what+" ("+name+")")
		}
	}
	return out
}
