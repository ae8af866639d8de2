package mount

import utilexec "k8s.io/utils/exec"

// CinderConnectors is every connector the node plugin serves on the Cinder
// attachments path, by driver_volume_type: file, NFS (with qcow2 exports), iSCSI
// and RBD. nfsMountBase is where NFS shares are mounted (empty: the connector's
// default); stateDir is the node's state directory (empty: DefaultStateDir).
func CinderConnectors(exec utilexec.Interface, nfsMountBase, stateDir string) map[string]Connector {
	loop := NewLoopDevices(exec)
	return map[string]Connector{
		DriverVolumeTypeFile:  NewFileConnector(loop),
		DriverVolumeTypeNFS:   NewNFSConnector(loop, nfsMountBase).WithQemuExports(NewQemuExports(exec, loop, stateDir)),
		DriverVolumeTypeISCSI: NewISCSIConnector(exec, stateDir),
		DriverVolumeTypeRBD:   NewRBDConnector(exec, stateDir),
	}
}
