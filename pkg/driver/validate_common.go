package driver

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/status"
)

const gib = int64(1) << 30

// Cinder IDs are UUIDs. Checking the shape before any URL or path is built from an ID
// keeps "../" and query strings out of both.
var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// A host name as Cinder records it for an attachment without Nova.
var hostRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]{0,253}[A-Za-z0-9])?$`)

// checkID checks that field holds a Cinder UUID.
func checkID(field, id string) error {
	if id == "" {
		return invalid("%s is required", field)
	}
	if !uuidRE.MatchString(id) {
		// NotFound, not InvalidArgument: an ID that cannot be a Cinder ID names nothing,
		// and the CSI spec treats a missing volume on delete/unpublish as success.
		return notFound("%s %q is not a Cinder UUID, so no such object exists", field, truncate(id))
	}
	return nil
}

// checkPath checks that a staging or target path is absolute and clean.
func checkPath(field, p string) error {
	if p == "" {
		return invalid("%s is required", field)
	}
	if !filepath.IsAbs(p) {
		return invalid("%s %q must be an absolute path", field, truncate(p))
	}
	if filepath.Clean(p) != p {
		return invalid("%s %q must be a clean path (no //, /./, /../ or trailing /): use %q", field, truncate(p), filepath.Clean(p))
	}
	if strings.ContainsRune(p, 0) {
		return invalid("%s must not contain NUL bytes", field)
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// capability is a validated volume capability.
type capability struct {
	block      bool
	fsType     string
	mountFlags []string
	mode       csi.VolumeCapability_AccessMode_Mode
}

func (c capability) multiNode() bool {
	switch c.mode {
	case csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY,
		csi.VolumeCapability_AccessMode_MULTI_NODE_SINGLE_WRITER,
		csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER:
		return true
	}
	return false
}

var supportedFS = map[string]bool{"ext4": true, "ext3": true, "xfs": true, "btrfs": true}

// parseCapability checks one capability. Filesystem volumes on several nodes are
// refused: a Cinder volume has no cluster filesystem, so two nodes mounting ext4 or
// xfs at once would corrupt it.
func parseCapability(c *csi.VolumeCapability) (capability, error) {
	var out capability
	if c == nil {
		return out, invalid("volume_capability is required")
	}
	am := c.GetAccessMode()
	if am == nil || am.GetMode() == csi.VolumeCapability_AccessMode_UNKNOWN {
		return out, invalid("volume_capability.access_mode is required")
	}
	out.mode = am.GetMode()
	if _, ok := csi.VolumeCapability_AccessMode_Mode_name[int32(out.mode)]; !ok {
		return out, invalid("volume_capability.access_mode %d is not a CSI access mode", out.mode)
	}
	switch t := c.GetAccessType().(type) {
	case *csi.VolumeCapability_Block:
		out.block = true
	case *csi.VolumeCapability_Mount:
		out.fsType = strings.ToLower(t.Mount.GetFsType())
		out.mountFlags = t.Mount.GetMountFlags()
		if out.fsType != "" && !supportedFS[out.fsType] {
			return out, invalid("fsType %q is not supported: use ext4 (default), xfs, ext3 or btrfs", t.Mount.GetFsType())
		}
		if out.multiNode() {
			return out, invalid("access mode %s with a filesystem is not supported: a Cinder volume has no cluster filesystem, "+
				"so mounting it on several nodes would corrupt it; use ReadWriteOnce/ReadWriteOncePod, or volumeMode: Block with a multiattach volume type", out.mode)
		}
	default:
		return out, invalid("volume_capability needs access_type block or mount")
	}
	return out, nil
}

func parseCapabilities(caps []*csi.VolumeCapability) ([]capability, error) {
	if len(caps) == 0 {
		return nil, invalid("volume_capabilities is required: give at least one")
	}
	out := make([]capability, 0, len(caps))
	for i, c := range caps {
		pc, err := parseCapability(c)
		if err != nil {
			return nil, invalid("volume_capabilities[%d]: %s", i, status.Convert(err).Message())
		}
		out = append(out, pc)
	}
	return out, nil
}

func anyMultiNode(caps []capability) bool {
	for _, c := range caps {
		if c.multiNode() {
			return true
		}
	}
	return false
}

// sizeGiB turns a capacity range into a whole number of GiB, as Cinder allocates.
func sizeGiB(r *csi.CapacityRange, minGiB int) (int, error) {
	req, lim := r.GetRequiredBytes(), r.GetLimitBytes()
	if req < 0 || lim < 0 {
		return 0, invalid("capacity_range must not be negative (required_bytes %d, limit_bytes %d)", req, lim)
	}
	if lim > 0 && req > lim {
		return 0, outOfRange("capacity_range.limit_bytes (%s) is smaller than required_bytes (%s)", fmtBytes(lim), fmtBytes(req))
	}
	size := (req + gib - 1) / gib
	if size < int64(minGiB) {
		size = int64(minGiB)
	}
	if size < 1 {
		size = 1
	}
	if lim > 0 && size*gib > lim {
		return 0, outOfRange("Cinder allocates whole GiB: %d GiB is more than capacity_range.limit_bytes (%s); raise the limit to at least %d GiB", size, fmtBytes(lim), size)
	}
	if size > 1<<20 {
		return 0, outOfRange("required %d GiB is more than Cinder's largest volume (1 PiB)", size)
	}
	return int(size), nil
}

func fmtBytes(b int64) string {
	switch {
	case b%gib == 0:
		return fmt.Sprintf("%dGi", b/gib)
	case b%(1<<20) == 0:
		return fmt.Sprintf("%dMi", b>>20)
	}
	return fmt.Sprintf("%d bytes", b)
}
