// Package cinder is the driver's only door to OpenStack: Keystone authentication,
// the Cinder v3 block-storage API and the Nova compute API, all through gophercloud.
//
// It returns this package's own types (Volume, Snapshot, which also carries a
// backup, Attachment), with the meaning of Cinder's states on them
// (Volume.Usable, Pending, Failed, InFlight; Snapshot.Ready, Failed), and
// sentinel errors (ErrNotFound, ErrInvalidState, ...), always wrapped with %w, so that
// callers decide with errors.Is and never see a gophercloud type. Its methods are whole
// operations: CreateVolume returns when the volume is available, Attach when the volume
// is attached; polling never leaks out of this package.
//
// It must not import pkg/driver, pkg/mount or any CSI package.
package cinder
