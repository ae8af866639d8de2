package driver

import (
	"context"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder/fake"
)

const testInitiator = "iqn.1993-08.org.debian:01:5a1b2c3d4e5f"

var testIdentity = NodeIdentity{ID: testNode, IP: "192.0.2.7", Initiator: testInitiator}

func mustNodeID(t *testing.T, key string, n NodeIdentity) string {
	t.Helper()
	id, err := CinderNodeID([]byte(key), n)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// The node ID of the Cinder path carries host, IP and initiator, and with a publish
// key a signature; the controller takes only what a node plugin with its key made.
func TestNodeIDOnCinderPath(t *testing.T) {
	signed := mustNodeID(t, testPublishKey, testIdentity)
	if want := testNode + ";192.0.2.7;" + testInitiator + ";"; !strings.HasPrefix(signed, want) || len(signed) != len(want)+22 {
		t.Fatalf("signed node ID %q: want %q and a 22-character signature", signed, want)
	}
	otherKey := mustNodeID(t, "another-key-of-at-least-32-characters!!", testIdentity)
	forged := strings.Replace(signed, "192.0.2.7", "192.0.2.8", 1)
	unsigned := mustNodeID(t, "", testIdentity)
	tests := []struct {
		name    string
		key     string
		nodeID  string
		publish bool
		want    cinder.Node
		code    codes.Code
		message string
	}{
		{"signed", testPublishKey, signed, true, cinder.Node{ID: testNode, IP: "192.0.2.7", Initiator: testInitiator}, codes.OK, ""},
		{"signed, no initiator", testPublishKey, mustNodeID(t, testPublishKey, NodeIdentity{ID: "n2", IP: "10.0.0.2"}), true, cinder.Node{ID: "n2", IP: "10.0.0.2"}, codes.OK, ""},
		{"field changed after signing", testPublishKey, forged, true, cinder.Node{}, codes.NotFound, "signature this controller's publish key did not make"},
		{"signed with another key", testPublishKey, otherKey, true, cinder.Node{}, codes.NotFound, "another --publish-key-file"},
		{"unsigned, controller has a key", testPublishKey, unsigned, true, cinder.Node{}, codes.NotFound, "is not signed"},
		{"bare host on publish, controller has a key", testPublishKey, "some-fake-node-id", true, cinder.Node{}, codes.NotFound, "bare host name"},
		{"bare host on unpublish: an earlier version's node ID", testPublishKey, "node-0", false, cinder.Node{ID: "node-0"}, codes.OK, ""},
		{"unpublish takes a signature it cannot check (a rotated key)", testPublishKey, otherKey, false, cinder.Node{ID: testNode, IP: "192.0.2.7", Initiator: testInitiator}, codes.OK, ""},
		{"unpublish takes an unsigned one", testPublishKey, unsigned, false, cinder.Node{ID: testNode, IP: "192.0.2.7", Initiator: testInitiator}, codes.OK, ""},
		{"unpublish refuses a malformed one", testPublishKey, "node-1;192.0.2.7", false, cinder.Node{}, codes.NotFound, "not a node ID of this driver"},
		{"two fields", testPublishKey, "node-1;192.0.2.7", true, cinder.Node{}, codes.NotFound, "not a node ID of this driver"},
		{"five fields", testPublishKey, signed + ";x", true, cinder.Node{}, codes.NotFound, "not a node ID of this driver"},
		{"not an IP", "", "node-1;192.0.2.300;", true, cinder.Node{}, codes.NotFound, "not a node ID of this driver"},
		{"not an initiator", "", "node-1;192.0.2.7;iqn with spaces", true, cinder.Node{}, codes.NotFound, "not a node ID of this driver"},
		{"no host", "", ";192.0.2.7;" + testInitiator, true, cinder.Node{}, codes.NotFound, "not a node ID of this driver"},
		{"no key: unsigned", "", unsigned, true, cinder.Node{ID: testNode, IP: "192.0.2.7", Initiator: testInitiator}, codes.OK, ""},
		{"no key: bare host", "", "node-9", true, cinder.Node{ID: "node-9"}, codes.OK, ""},
		{"no key: signed (cannot be checked)", "", signed, true, cinder.Node{ID: testNode, IP: "192.0.2.7", Initiator: testInitiator}, codes.OK, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := &Driver{opts: Options{Attacher: AttacherCinder}, nodeKey: []byte(tc.key)}
			got, err := d.nodeOf(tc.nodeID, tc.publish)
			if status.Code(err) != tc.code || (tc.message != "" && !strings.Contains(err.Error(), tc.message)) {
				t.Fatalf("nodeOf(%q) error = %v; want %v containing %q", tc.nodeID, err, tc.code, tc.message)
			}
			if got != tc.want {
				t.Errorf("nodeOf(%q) = %+v, want %+v", tc.nodeID, got, tc.want)
			}
		})
	}
}

func TestCinderNodeIDRefusesWhatKubernetesCannotKeep(t *testing.T) {
	tests := []struct {
		name    string
		n       NodeIdentity
		message string
	}{
		{"host too long for Kubernetes", NodeIdentity{ID: strings.Repeat("h", 240), IP: "192.0.2.7", Initiator: testInitiator}, "Kubernetes keeps at most 256"},
		{"bad IP", NodeIdentity{ID: "n", IP: "not-an-ip"}, "not an IP address"},
		{"bad initiator", NodeIdentity{ID: "n", Initiator: "iqn;evil"}, "is not one"},
		{"bad host", NodeIdentity{ID: "a;b"}, "node host name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := CinderNodeID([]byte(testPublishKey), tc.n); err == nil || !strings.Contains(err.Error(), tc.message) {
				t.Errorf("CinderNodeID(%+v) = %v; want an error containing %q", tc.n, err, tc.message)
			}
		})
	}
	// The node plugin refuses to start with such an identity, before it registers.
	o := DefaultOptions()
	o.Mode, o.Attacher = ModeNode, AttacherCinder
	_, err := New(o, Deps{Mounter: newFakeMounter(), Locators: testLocators(), Node: tests[0].n})
	if err == nil || !strings.Contains(err.Error(), "shorten --node-id") {
		t.Errorf("New with a %d-character host = %v; want a refusal", len(tests[0].n.ID), err)
	}
}

// Through the CSI calls: the node reports its signed ID, the controller attaches with
// the node's IP and initiator in the connector, and refuses a node no plugin made.
func TestPublishUsesTheNodesConnector(t *testing.T) {
	ctx := context.Background()
	cloud := fake.New(fake.Options{})
	o := DefaultOptions()
	o.Mode, o.Attacher = ModeAll, AttacherCinder
	d, err := New(o, Deps{Cloud: cloud, Attacher: cloud.CinderAttacher(), Mounter: newFakeMounter(), Locators: testLocators(),
		Node: testIdentity, PublishKey: []byte(testPublishKey)})
	if err != nil {
		t.Fatal(err)
	}
	info, err := d.NodeGetInfo(ctx, &csi.NodeGetInfoRequest{})
	if err != nil || info.GetNodeId() != mustNodeID(t, testPublishKey, testIdentity) {
		t.Fatalf("NodeGetInfo = %v, %v; want the signed node ID", info, err)
	}
	id := mustCreate(t, d, "connector")
	for _, bad := range []string{"some-fake-node-id", strings.Replace(info.GetNodeId(), testInitiator, "iqn.2000-01.com.example:other", 1)} {
		_, err := d.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: id, NodeId: bad, VolumeCapability: mountCap()})
		if status.Code(err) != codes.NotFound {
			t.Errorf("publish to %q: %v, want NotFound", bad, err)
		}
	}
	if v, _ := cloud.GetVolume(ctx, id); len(v.Attachments) != 0 {
		t.Fatalf("refused publishes left attachments: %+v", v.Attachments)
	}
	if _, err := d.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: id, NodeId: info.GetNodeId(), VolumeCapability: mountCap()}); err != nil {
		t.Fatal(err)
	}
	v, _ := cloud.GetVolume(ctx, id)
	if len(v.Attachments) != 1 || v.Attachments[0].HostName != testNode {
		t.Fatalf("attachments %+v; want one to host %s", v.Attachments, testNode)
	}
	if got, _ := cloud.Connector(v.Attachments[0].AttachmentID); got != (cinder.Node{ID: testNode, IP: "192.0.2.7", Initiator: testInitiator}) {
		t.Errorf("connector %+v; want the node's host, IP and initiator", got)
	}
	if _, err := d.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{VolumeId: id, NodeId: info.GetNodeId()}); err != nil {
		t.Fatal(err)
	}
	if v, _ := cloud.GetVolume(ctx, id); len(v.Attachments) != 0 {
		t.Errorf("unpublish left %+v", v.Attachments)
	}
}
