// Package mount does everything the node plugin does to the host: finding a volume's
// block device (one DeviceLocator per attach path), exposing volume files as loop
// devices, formatting, mounting, bind-mounting, resizing and filesystem statistics,
// reading the config drive (ConfigDrive),
// through k8s.io/mount-utils and a command-execution seam (k8s.io/utils/exec).
//
// It must not import pkg/driver, pkg/cinder, gophercloud or any CSI package.
package mount
