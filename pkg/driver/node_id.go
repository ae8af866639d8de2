package driver

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net"
	"regexp"
	"strings"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
)

// On the Cinder attachments path nothing in the cloud knows the nodes: Cinder keeps no
// registry of hosts, and a host it has never seen looks like a new one. So the node
// plugin describes itself in its node ID, host;ip;initiator, which the controller puts
// into the attachment's connector (iSCSI backends export targets to the initiator),
// and, with a publish key, signs it: host;ip;initiator;mac, where mac is HMAC-SHA256
// (first 16 bytes, base64url) keyed with the key only the controller and node pods
// hold. A node ID no node plugin of this driver made is then NotFound on
// ControllerPublishVolume, as the CSI spec asks for a node that does not exist.
// Without a key the controller cannot tell, and takes any well-formed node ID.

// nodeIDSep separates the fields; no host name, IP address or iSCSI name has it.
const nodeIDSep = ";"

// maxNodeIDLen is the longest node ID Kubernetes keeps in a CSINode object.
const maxNodeIDLen = 256

// initiatorRE matches iSCSI names (iqn., eui., naa. forms, RFC 3720 lengths).
var initiatorRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.:_-]{0,222}$`)

// nodeMAC signs what a node ID says of the node.
func nodeMAC(key []byte, host, ip, initiator string) string {
	m := hmac.New(sha256.New, bytes.TrimSpace(key))
	m.Write([]byte("cinder-csi node id v1\x00" + host + "\x00" + ip + "\x00" + initiator))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// CinderNodeID returns the node ID a node plugin on the Cinder attachments path
// reports for n: host;ip;initiator, and ;mac when key (the publish key) is set;
// without a key, a node with neither IP nor initiator is just its host name.
func CinderNodeID(key []byte, n NodeIdentity) (string, error) {
	if !hostRE.MatchString(n.ID) {
		return "", fmt.Errorf("node host name %q: use letters, digits, . _ - (at most 255)", n.ID)
	}
	if n.IP != "" && net.ParseIP(n.IP) == nil {
		return "", fmt.Errorf("node IP %q is not an IP address", n.IP)
	}
	if n.Initiator != "" && !initiatorRE.MatchString(n.Initiator) {
		return "", fmt.Errorf("iSCSI initiator name %q is not one (iqn.YYYY-MM.reversed.domain:name, at most 223 characters)", n.Initiator)
	}
	fields := []string{n.ID, n.IP, n.Initiator}
	switch {
	case len(bytes.TrimSpace(key)) > 0:
		fields = append(fields, nodeMAC(key, n.ID, n.IP, n.Initiator))
	case n.IP == "" && n.Initiator == "":
		fields = fields[:1] // nothing to say but the host
	}
	id := strings.Join(fields, nodeIDSep)
	if len(id) > maxNodeIDLen {
		return "", fmt.Errorf("the node ID %q is %d bytes and Kubernetes keeps at most %d: shorten --node-id", id, len(id), maxNodeIDLen)
	}
	return id, nil
}

// nodeOf checks the node_id of ControllerPublishVolume (publish) or
// ControllerUnpublishVolume and returns the node it names. The signature is checked
// on publish only: a detach must not fail, and leave the attachment behind, because
// the node's ID was signed with a key the controller no longer has (a rotated key) or
// by an earlier version; so unpublish takes any well-formed node ID and the bare host
// names of earlier versions.
func (d *Driver) nodeOf(nodeID string, publish bool) (cinder.Node, error) {
	if d.opts.Attacher == AttacherNova {
		if !uuidRE.MatchString(nodeID) {
			return cinder.Node{}, notFound("node_id %q is not a Nova server UUID, so no such node exists", truncate(nodeID))
		}
		return cinder.Node{ID: nodeID}, nil
	}
	f := strings.Split(nodeID, nodeIDSep)
	signed := len(d.nodeKey) > 0
	switch {
	case len(f) == 1 && hostRE.MatchString(nodeID) && (!signed || !publish):
		return cinder.Node{ID: nodeID}, nil
	case len(f) == 1 && hostRE.MatchString(nodeID):
		return cinder.Node{}, notFound("node_id %q is a bare host name that no node plugin of this driver reports: "+
			"its node IDs are host;ip;initiator;signature, signed with --publish-key-file (restart that node's plugin with this version)", truncate(nodeID))
	case len(f) != 3 && len(f) != 4:
		return cinder.Node{}, notFound("node_id %q is not a node ID of this driver (host;ip;initiator;signature), so no such node exists", truncate(nodeID))
	}
	n := cinder.Node{ID: f[0], IP: f[1], Initiator: f[2]}
	if want, err := CinderNodeID(nil, NodeIdentity{ID: n.ID, IP: n.IP, Initiator: n.Initiator}); err != nil || want != strings.Join(f[:3], nodeIDSep) {
		return cinder.Node{}, notFound("node_id %q is not a node ID of this driver (host;ip;initiator;signature), so no such node exists", truncate(nodeID))
	}
	if signed && publish {
		if len(f) != 4 {
			return cinder.Node{}, notFound("node_id %q is not signed, so no node plugin of this driver made it: "+
				"the controller has a publish key, and a node plugin with the same --publish-key-file signs its node ID", truncate(nodeID))
		}
		if !hmac.Equal([]byte(f[3]), []byte(nodeMAC(d.nodeKey, n.ID, n.IP, n.Initiator))) {
			return cinder.Node{}, notFound("node_id %q has a signature this controller's publish key did not make: "+
				"no such node, or its node plugin holds another --publish-key-file than the controller", truncate(nodeID))
		}
	}
	return n, nil
}

// attachNode is the node plugin's own node, for the attachments it makes itself
// (inline ephemeral volumes).
func (d *Driver) attachNode() cinder.Node {
	n := d.deps.Node
	return cinder.Node{ID: n.ID, IP: n.IP, Initiator: n.Initiator}
}
