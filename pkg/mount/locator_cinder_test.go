package mount

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

// recordingConnector remembers what it was asked and answers as told.
type recordingConnector struct {
	device        string
	disconnectErr error
	gotData       map[string]any
	connects      int
	disconnects   []string
}

func (r *recordingConnector) Connect(_ context.Context, _ string, data map[string]any) (string, error) {
	r.connects++
	r.gotData = data
	return r.device, nil
}

func (r *recordingConnector) Disconnect(_ context.Context, volumeID string) error {
	r.disconnects = append(r.disconnects, volumeID)
	return r.disconnectErr
}

func TestCinderLocatorConnect(t *testing.T) {
	tests := []struct {
		name        string
		att         Attachment
		want        string
		wantData    map[string]any
		wantErr     error
		wantMessage string
	}{
		{
			name:     "dispatches on driver_volume_type with decoded data",
			att:      Attachment{DriverVolumeType: "file", Data: map[string]any{"path": "/x/volume-1", "lun": json.Number("3")}},
			want:     "/dev/loop1",
			wantData: map[string]any{"path": "/x/volume-1", "lun": "3"},
		},
		{
			name:        "unknown type names the supported ones",
			att:         Attachment{DriverVolumeType: "iscsi", Data: map[string]any{}},
			wantErr:     ErrUnsupported,
			wantMessage: `"iscsi"; this node supports: file, rbd`,
		},
		{name: "no type", att: Attachment{Data: map[string]any{}}, wantErr: ErrInvalidArgument},
		{name: "no data", att: Attachment{DriverVolumeType: "file"}, wantErr: ErrInvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			file := &recordingConnector{device: "/dev/loop1"}
			l := NewCinderLocator(map[string]Connector{"file": file, "rbd": &recordingConnector{}})
			got, err := l.Connect(context.Background(), "1", tc.att)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				if !strings.Contains(err.Error(), tc.wantMessage) {
					t.Errorf("message %q does not contain %q", err, tc.wantMessage)
				}
				if file.connects != 0 {
					t.Errorf("connector called %d times on a bad request", file.connects)
				}
				return
			}
			if got != tc.want {
				t.Errorf("device = %q, want %q", got, tc.want)
			}
			gotData := map[string]any{}
			for k, v := range file.gotData {
				gotData[k] = fmt.Sprint(v)
			}
			if !maps.Equal(gotData, tc.wantData) {
				t.Errorf("data = %v, want %v", file.gotData, tc.wantData)
			}
		})
	}
}

func TestCinderLocatorDisconnectAsksEveryConnector(t *testing.T) {
	boom := errors.New("boom")
	a := &recordingConnector{disconnectErr: boom}
	b := &recordingConnector{}
	l := NewCinderLocator(map[string]Connector{"a": a, "b": b})
	err := l.Disconnect(context.Background(), "vol-1")
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want it to carry %v", err, boom)
	}
	for name, c := range map[string]*recordingConnector{"a": a, "b": b} {
		if !slices.Equal(c.disconnects, []string{"vol-1"}) {
			t.Errorf("connector %s was asked %v, want [vol-1]", name, c.disconnects)
		}
	}
	if err := l.Disconnect(context.Background(), ""); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("empty volume ID: err = %v, want ErrInvalidArgument", err)
	}
}
