// Package realcinder proves the driver against a REAL OpenStack Cinder: the local test
// bed that test/cinder/up.sh starts (Keystone, RabbitMQ, MariaDB, Cinder with the NFS
// backend, the POSIX backup driver), through the Cinder-attachments path with real
// loop devices and mounts on this machine.
//
// The tests find the test bed through .cache/cinder/clouds.yaml (or
// $CINDER_CSI_CLOUDS). Where it is missing they skip, saying how to start it; with
// REQUIRE_REAL_CINDER=1 (as make test sets it) they fail instead.
//
// The walk through a volume's life (testbed.Walk) is shared with make demo; the
// helpers that run the driver in-process for a suite are package testbed's too.
package realcinder

// gib is one GiB in bytes.
const gib = int64(1) << 30
