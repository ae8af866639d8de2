package main

import (
	"errors"
	"net"

	"k8s.io/klog/v2"

	"github.com/cinder-csi/cinder-csi-driver/pkg/driver"
	"github.com/cinder-csi/cinder-csi-driver/pkg/mount"
)

// nodeConnector finds what a node of the Cinder attachments path tells the backend
// about itself: its IP (--node-ip, else its first global address) and its iSCSI
// initiator name (none on a node without open-iscsi).
func nodeConnector(opts driver.Options) (ip, initiator string, err error) {
	ip = opts.NodeIP
	if ip == "" {
		ip = firstGlobalIP()
	}
	initiator, err = mount.ReadInitiatorName(opts.InitiatorFile)
	if errors.Is(err, mount.ErrUnsupported) {
		klog.InfoS("The node has no iSCSI initiator name; iSCSI volumes cannot be exported to it", "reason", err.Error())
		return ip, "", nil
	}
	return ip, initiator, err
}

// firstGlobalIP returns the first global unicast address of an interface that is up,
// IPv4 before IPv6; "" when there is none.
func firstGlobalIP() string {
	ifaces, err := net.Interfaces()
	if err != nil {
		return ""
	}
	var v6 string
	for _, iface := range ifaces {
		if iface.Flags&net.FlagUp == 0 || iface.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := iface.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipnet, ok := a.(*net.IPNet)
			if !ok || !ipnet.IP.IsGlobalUnicast() {
				continue
			}
			if ipnet.IP.To4() != nil {
				return ipnet.IP.String()
			}
			if v6 == "" {
				v6 = ipnet.IP.String()
			}
		}
	}
	return v6
}
