package mount

import (
	"testing"

	mountutils "k8s.io/mount-utils"
)

func TestCountStaged(t *testing.T) {
	const k = "/var/lib/kubelet/plugins/kubernetes.io/csi/"
	tests := []struct {
		name   string
		points []string
		want   int
	}{
		{"nothing mounted", nil, 0},
		{"two staged volumes of the driver", []string{k + "cinder.csi.openstack.org/aa11/globalmount", k + "cinder.csi.openstack.org/bb22/globalmount"}, 2},
		{"another driver's volume", []string{k + "ebs.csi.aws.com/aa11/globalmount"}, 0},
		{"a publish (bind mount in a pod dir) is not a stage", []string{"/var/lib/kubelet/pods/u/volumes/kubernetes.io~csi/pv1/mount"}, 0},
		{"the plugin's own directory", []string{k + "cinder.csi.openstack.org/csi.sock", k + "cinder.csi.openstack.org"}, 0},
		{"a path mounted over twice counts once", []string{k + "cinder.csi.openstack.org/aa11/globalmount", k + "cinder.csi.openstack.org/aa11/globalmount/"}, 1},
		{"a kubelet directory elsewhere", []string{"/srv/kubelet/plugins/kubernetes.io/csi/cinder.csi.openstack.org/cc33/globalmount"}, 1},
		{"deeper than a staging path", []string{k + "cinder.csi.openstack.org/aa11/x/globalmount"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var infos []mountutils.MountInfo
			for _, p := range tt.points {
				infos = append(infos, mountutils.MountInfo{MountPoint: p})
			}
			if got := countStaged(infos, "cinder.csi.openstack.org"); got != tt.want {
				t.Errorf("countStaged = %d, want %d", got, tt.want)
			}
		})
	}
}
