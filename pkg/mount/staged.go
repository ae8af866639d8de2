package mount

import (
	"path"
	"strings"

	mountutils "k8s.io/mount-utils"
)

// CountStaged returns how many filesystem volumes of driverName are mounted at a
// kubelet staging path (…/plugins/kubernetes.io/csi/<driver>/<hash>/globalmount),
// read from the mount table, so the figure is true after a restart of the node
// plugin too. Raw block volumes are not counted: staging one mounts nothing.
func CountStaged(driverName string) (int, error) {
	infos, err := mountutils.ParseMountInfo("/proc/self/mountinfo")
	if err != nil {
		return 0, err
	}
	return countStaged(infos, driverName), nil
}

func countStaged(infos []mountutils.MountInfo, driverName string) int {
	dir := "/plugins/kubernetes.io/csi/" + driverName + "/"
	seen := map[string]bool{}
	for _, mi := range infos {
		p := path.Clean(mi.MountPoint)
		i := strings.Index(p, dir)
		if i < 0 || path.Base(p) != "globalmount" || strings.Count(p[i+len(dir):], "/") != 1 {
			continue
		}
		seen[p] = true // a path mounted over twice is one staged volume
	}
	return len(seen)
}
