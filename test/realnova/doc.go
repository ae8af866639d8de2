// Package realnova proves the Nova attach path against the real Nova and Cinder of
// the local test bed (make openstack-up): csi-sanity with --attacher nova, a volume
// moving between servers, stuck attachments, the node's metadata lookup, and the
// API calls and latencies of attach and detach.
//
// Nova's fake virt driver plugs no disk into anything, so the tests play the
// hypervisor and udev (hypervisor.go): they expose each volume Nova attached to a
// test server as a loop device over the file Cinder's connection info names, and
// link it as /dev/disk/by-id/virtio-<serial> in that server's own device
// directory. The driver's node service finds, stages and publishes it unmodified.
//
// Every test takes the project's inventory first (volumes, snapshots, backups,
// Cinder attachments, servers: test/internal/testbed) and, after its cleanups,
// fails unless the project holds exactly that again within three minutes.
package realnova
