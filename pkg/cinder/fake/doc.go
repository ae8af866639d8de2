// Package fake is a hand-written, in-memory cinder.Cloud and cinder.Attacher for unit
// tests and the fast csi-sanity run. It follows Cinder's rules where the driver depends
// on them: names are not unique, volumes pass through "creating" before "available",
// attached volumes and volumes with snapshots cannot be deleted, sizes are whole GiB.
//
// Its Cinder-attachments path hands the node a real sparse file (driver_volume_type
// "file") so that the node plugin formats and mounts for real on a loop device.
//
// It must not import pkg/driver or pkg/mount.
package fake
