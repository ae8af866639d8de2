package driver

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"reflect"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/klog/v2"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder/fake"
	"github.com/cinder-csi/cinder-csi-driver/pkg/mount"
)

const testPublishKey = "0123456789abcdef0123456789abcdef-test-key"

// connAttacher attaches through the fake but answers with the given connection info,
// as an iSCSI or RBD backend would.
type connAttacher struct {
	cinder.Attacher
	conn cinder.ConnectionInfo
}

func (a connAttacher) Attach(ctx context.Context, v *cinder.Volume, node cinder.Node) (*cinder.Attachment, error) {
	att, err := a.Attacher.Attach(ctx, v, node)
	if err != nil {
		return nil, err
	}
	c := a.conn
	att.Connection = &c
	return att, nil
}

// recordingLocator keeps the attachment a connector was given.
type recordingLocator struct {
	fakeLocator
	got mount.Attachment
}

func (l *recordingLocator) Connect(ctx context.Context, id string, att mount.Attachment) (string, error) {
	l.got = att
	return l.fakeLocator.Connect(ctx, id, att)
}

// captureLogs sends klog at -v=10 into a buffer until the test ends.
func captureLogs(t *testing.T) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	_ = fs.Set("v", "10")
	_ = fs.Set("logtostderr", "false")
	klog.SetOutput(&buf)
	t.Cleanup(func() {
		_ = fs.Set("v", "0")
		_ = fs.Set("logtostderr", "true")
	})
	return &buf
}

// Credentials in Cinder's connection info reach neither the publish context (and so
// VolumeAttachment.status) nor a log line at -v=10 nor an error, yet the node's
// connector gets them whole.
func TestPublishContextSealsCredentials(t *testing.T) {
	tests := []struct {
		name    string
		conn    cinder.ConnectionInfo
		secrets []string
	}{
		{"iSCSI with CHAP", cinder.ConnectionInfo{DriverVolumeType: "iscsi", Data: map[string]any{
			"target_iqn": "iqn.2010-10.org.openstack:volume-1", "target_portal": "192.0.2.10:3260", "target_lun": json.Number("1"),
			"auth_method": "CHAP", "auth_username": "chapuser", "auth_password": "chap-password-S3cr3t",
			"discovery_auth_username": "discuser", "discovery_auth_password": "discovery-S3cr3t",
		}}, []string{"chap-password-S3cr3t", "discovery-S3cr3t"}},
		{"RBD with keyring", cinder.ConnectionInfo{DriverVolumeType: "rbd", Data: map[string]any{
			"name": "volumes/volume-1", "hosts": []any{"192.0.2.20"}, "ports": []any{"6789"}, "auth_enabled": true,
			"auth_username": "cinder", "secret_type": "ceph", "secret_uuid": "457eb676-33da-42ec-9a8c-9293d545c337",
			"keyring": "[client.cinder]\n\tkey = AQBvKeyringS3cr3tKeyValue==\n",
		}}, []string{"AQBvKeyringS3cr3tKeyValue=="}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := captureLogs(t)
			ctx := context.Background()
			cloud := fake.New(fake.Options{})
			opts := DefaultOptions()
			opts.Mode, opts.Attacher = ModeAll, AttacherCinder
			loc := &recordingLocator{fakeLocator: fakeLocator{connected: map[string]string{}}}
			d, err := New(opts, Deps{Cloud: cloud, Attacher: connAttacher{cloud.CinderAttacher(), tt.conn}, MaxVolumesPerNode: 2,
				Mounter: newFakeMounter(), Locators: map[string]mount.DeviceLocator{AttacherCinder: loc},
				Node: testIdentity, PublishKey: []byte(testPublishKey)})
			if err != nil {
				t.Fatal(err)
			}
			call := func(method string, req any, h func(context.Context, any) (any, error)) (any, error) {
				return logInterceptor(ctx, req, &grpc.UnaryServerInfo{FullMethod: method}, h)
			}
			id := mustCreate(t, d, "sealed")
			resp, err := call("/csi.v1.Controller/ControllerPublishVolume",
				&csi.ControllerPublishVolumeRequest{VolumeId: id, NodeId: mustNodeID(t, testPublishKey, testIdentity), VolumeCapability: mountCap()},
				func(ctx context.Context, r any) (any, error) {
					return d.ControllerPublishVolume(ctx, r.(*csi.ControllerPublishVolumeRequest))
				})
			if err != nil {
				t.Fatal(err)
			}
			pc := resp.(*csi.ControllerPublishVolumeResponse).GetPublishContext()
			if pc[pcSealedConnectionData] == "" {
				t.Fatalf("no sealed credentials in the publish context: %v", pc)
			}
			stage := &csi.NodeStageVolumeRequest{VolumeId: id, StagingTargetPath: "/s", VolumeCapability: mountCap(), PublishContext: pc}
			if _, err := call("/csi.v1.Node/NodeStageVolume", stage, func(ctx context.Context, r any) (any, error) {
				return d.NodeStageVolume(ctx, r.(*csi.NodeStageVolumeRequest))
			}); err != nil {
				t.Fatal(err)
			}
			// The connector got every field, with Cinder's values.
			got := loc.got.Data
			for k, v := range tt.conn.Data {
				if want, _ := json.Marshal(v); string(must(json.Marshal(got[k]))) != string(want) {
					t.Errorf("connector got %s = %v, want %v", k, got[k], v)
				}
			}
			if _, ok := got[pcSealedConnectionData]; ok {
				t.Error("the connector was handed the sealed field too")
			}
			// A context of another volume does not open; nor does one without a key.
			other := mustCreate(t, d, "other")
			_, err = d.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: other, StagingTargetPath: "/o", VolumeCapability: mountCap(), PublishContext: pc})
			wantCode(t, err, codes.FailedPrecondition)
			klog.Flush()
			text := logs.String() + strings.Join(mapValues(pc), " ") + errText(err)
			if !strings.Contains(logs.String(), "ControllerPublishVolume") {
				t.Fatalf("the interceptor logged nothing:\n%s", logs.String())
			}
			for _, s := range tt.secrets {
				if strings.Contains(text, s) {
					t.Errorf("secret %q reached the publish context, a log line or an error:\n%s", s, text)
				}
			}
		})
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func mapValues(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	return out
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Without a publish key the controller refuses to hand out credentials in clear text;
// connection info without credentials needs no key.
func TestPublishWithoutKey(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		data map[string]any
		code codes.Code
	}{
		{"credentials", map[string]any{"target_iqn": "iqn.x", "auth_password": "p"}, codes.FailedPrecondition},
		{"none", map[string]any{"export": "192.0.2.1:/srv", "name": "volume-1"}, codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cloud := fake.New(fake.Options{})
			opts := DefaultOptions()
			opts.Mode, opts.Attacher = ModeController, AttacherCinder
			d, err := New(opts, Deps{Cloud: cloud, Attacher: connAttacher{cloud.CinderAttacher(), cinder.ConnectionInfo{DriverVolumeType: "iscsi", Data: tt.data}}, MaxVolumesPerNode: 2})
			if err != nil {
				t.Fatal(err)
			}
			id := mustCreate(t, d, "v")
			_, err = d.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: id, NodeId: testNode, VolumeCapability: mountCap()})
			wantCode(t, err, tt.code)
			if err != nil && strings.Contains(err.Error(), `"p"`) {
				t.Errorf("the refusal shows the secret: %v", err)
			}
		})
	}
}

func TestSecretFields(t *testing.T) {
	for name, want := range map[string]bool{
		"auth_password": true, "discovery_auth_password": true, "keyring": true, "secret_uuid": true,
		"auth_key": true, "token": true, "passphrase": true,
		"target_iqn": false, "target_portal": false, "target_lun": false, "auth_username": false, "name": false,
		"export": false, "hosts": false, "keyring_path_hint_id": true,
	} {
		if got := isSecretField(name); got != want {
			t.Errorf("isSecretField(%q) = %t, want %t", name, got, want)
		}
	}
	if _, err := newSealer([]byte("short")); err == nil {
		t.Error("a 5-character publish key was accepted")
	}
}

func TestParsePublishContext(t *testing.T) {
	for _, tc := range []struct {
		name string
		pc   map[string]string
		want handover
		msg  string // a refusal's message contains this; "" means accepted
	}{
		{name: "nova", pc: map[string]string{pcAttacher: AttacherNova, pcDevicePath: "/dev/vdb"},
			want: handover{attacher: AttacherNova, att: mount.Attachment{DevicePath: "/dev/vdb"}}},
		{name: "none: this plugin's own path", pc: nil, want: handover{}},
		{name: "cinder", pc: map[string]string{pcAttacher: AttacherCinder, pcDriverVolumeType: "file", pcConnectionData: `{"path":"/x","lun":3}`, pcSealedConnectionData: "s"},
			want: handover{attacher: AttacherCinder, sealed: "s", att: mount.Attachment{DriverVolumeType: "file", Data: map[string]any{"path": "/x", "lun": json.Number("3")}}}},
		{name: "cinder without type", pc: map[string]string{pcAttacher: AttacherCinder, pcConnectionData: `{}`}, msg: `lacks "driverVolumeType" or "connectionData"`},
		{name: "cinder without data", pc: map[string]string{pcAttacher: AttacherCinder, pcDriverVolumeType: "file"}, msg: `lacks "driverVolumeType" or "connectionData"`},
		{name: "data not an object", pc: map[string]string{pcAttacher: AttacherCinder, pcDriverVolumeType: "file", pcConnectionData: `[1]`}, msg: `"connectionData" is not a JSON object`},
		{name: "data null", pc: map[string]string{pcAttacher: AttacherCinder, pcDriverVolumeType: "file", pcConnectionData: `null`}, msg: `"connectionData" is not a JSON object`},
		{name: "unknown path", pc: map[string]string{pcAttacher: "iscsi"}, msg: `"attacher" is "iscsi": use "nova" or "cinder"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parsePublishContext(tc.pc)
			if tc.msg != "" {
				if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tc.msg) {
					t.Fatalf("err = %v, want InvalidArgument with %q", err, tc.msg)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}
