package mount

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
)

// What the iSCSI connector reads from Cinder and from the node: targets, CHAP
// settings, udev's names for a target's disks, the node's initiator name.

// ReadInitiatorName returns the initiator name in file (ISCSIInitiatorNameFile on a
// node), the name Cinder must be given in the attachment's connector. A node without
// one is ErrUnsupported.
func ReadInitiatorName(file string) (string, error) {
	raw, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("%w: %s does not exist: install open-iscsi on the node", ErrUnsupported, file)
	}
	if err != nil {
		return "", err
	}
	for line := range strings.Lines(string(raw)) {
		if name, ok := strings.CutPrefix(strings.TrimSpace(line), "InitiatorName="); ok && strings.TrimSpace(name) != "" {
			return strings.TrimSpace(name), nil
		}
	}
	return "", fmt.Errorf("%w: %s has no InitiatorName= line (iscsid writes one at its first start)", ErrUnsupported, file)
}

// iscsiTarget is one path to the volume's LUN; it is also what the records hold.
type iscsiTarget struct {
	Portal string `json:"portal"`
	IQN    string `json:"iqn"`
	LUN    uint64 `json:"lun"`
}

// iscsiAuth is the CHAP setting of the session; method is "" or "CHAP". password is
// a secret: it goes into iscsiadm's arguments and nowhere else.
type iscsiAuth struct{ method, username, password string }

func (t iscsiTarget) sameTarget(o iscsiTarget) bool { return t.Portal == o.Portal && t.IQN == o.IQN }

// byPathPrefixes are udev's by-path names of the target's LUNs, up to the LUN number.
// udev writes an IPv6 portal as the kernel reports it, with or without brackets by
// version, so both are tried.
func (t iscsiTarget) byPathPrefixes() []string {
	portals := []string{t.Portal}
	if host, port, err := net.SplitHostPort(t.Portal); err == nil && strings.Contains(host, ":") {
		portals = append(portals, host+":"+port)
	}
	prefixes := make([]string, 0, len(portals))
	for _, p := range portals {
		prefixes = append(prefixes, "ip-"+p+"-iscsi-"+t.IQN+"-lun-")
	}
	return prefixes
}

func (t iscsiTarget) byPathNames() []string {
	names := t.byPathPrefixes()
	for i := range names {
		names[i] += formatLUN(t.LUN)
	}
	return names
}

// formatLUN writes a LUN as udev's path_id does: decimal below 256, else the SAM
// flat-space form.
func formatLUN(lun uint64) string {
	if lun < 256 {
		return strconv.FormatUint(lun, 10)
	}
	return fmt.Sprintf("0x%04x%04x00000000", lun&0xffff, (lun>>16)&0xffff)
}

// parseISCSIData reads the targets, the single one first, then the multipath lists.
func parseISCSIData(data map[string]any) ([]iscsiTarget, iscsiAuth, error) {
	var targets []iscsiTarget
	add := func(portal, iqn string, lun any) error {
		t, err := newISCSITarget(portal, iqn, lun)
		if err != nil {
			return err
		}
		if !slices.Contains(targets, t) {
			targets = append(targets, t)
		}
		return nil
	}
	portal, iqn, lun := dataString(data, "target_portal"), dataString(data, "target_iqn"), data["target_lun"]
	if portal != "" {
		if err := add(portal, iqn, lun); err != nil {
			return nil, iscsiAuth{}, err
		}
	}
	portals, err := dataStrings(data, "target_portals")
	if err != nil {
		return nil, iscsiAuth{}, err
	}
	iqns, err := dataStrings(data, "target_iqns")
	if err != nil {
		return nil, iscsiAuth{}, err
	}
	luns, err := dataStrings(data, "target_luns")
	if err != nil {
		return nil, iscsiAuth{}, err
	}
	for i, p := range portals {
		iqnI, lunI := iqn, lun
		if len(iqns) == len(portals) {
			iqnI = iqns[i]
		}
		if len(luns) == len(portals) {
			lunI = luns[i]
		}
		if err := add(p, iqnI, lunI); err != nil {
			return nil, iscsiAuth{}, err
		}
	}
	if len(targets) == 0 {
		return nil, iscsiAuth{}, errors.New("needs \"target_portal\", \"target_iqn\" and \"target_lun\"")
	}
	auth := iscsiAuth{
		method:   dataString(data, "auth_method"),
		username: dataString(data, "auth_username"),
		password: dataString(data, "auth_password"),
	}
	switch {
	case auth.method == "" || strings.EqualFold(auth.method, "none"):
		auth = iscsiAuth{}
	case !strings.EqualFold(auth.method, "CHAP"):
		return nil, iscsiAuth{}, fmt.Errorf("auth_method %q is not supported, only CHAP", auth.method)
	case auth.username == "" || auth.password == "":
		return nil, iscsiAuth{}, errors.New("CHAP needs \"auth_username\" and \"auth_password\"")
	default:
		auth.method = "CHAP"
	}
	return targets, auth, nil
}

// newISCSITarget checks what goes into iscsiadm's arguments and udev's link names.
// The portal must be an IP address: udev names links by address, not host name.
func newISCSITarget(portal, iqn string, lun any) (iscsiTarget, error) {
	host, port, err := net.SplitHostPort(portal)
	if err != nil {
		host, port = strings.Trim(portal, "[]"), "3260"
	}
	if net.ParseIP(host) == nil {
		return iscsiTarget{}, fmt.Errorf("target portal %q is not an IP address with an optional port", portal)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return iscsiTarget{}, fmt.Errorf("target portal %q has no valid port", portal)
	}
	if iqn == "" || len(iqn) > 223 || strings.HasPrefix(iqn, "-") || strings.ContainsAny(iqn, " \t\n/\x00") {
		return iscsiTarget{}, fmt.Errorf("target IQN %q is not a valid iSCSI name", iqn)
	}
	if lun == nil {
		return iscsiTarget{}, fmt.Errorf("target %s has no LUN", iqn)
	}
	n, err := parseUint(lun)
	if err != nil {
		return iscsiTarget{}, fmt.Errorf("LUN of target %s: %w", iqn, err)
	}
	return iscsiTarget{Portal: net.JoinHostPort(host, port), IQN: iqn, LUN: n}, nil
}
