package mount

import (
	"context"
	"errors"
	"testing"
)

// FuzzCinderLocatorConnect: the node's parser of the publish context the controller
// wrote never panics, reaches a connector only with a JSON object, and refuses the
// rest with ErrInvalidArgument or ErrUnsupported.
func FuzzCinderLocatorConnect(f *testing.F) {
	f.Add("file", `{"path":"/var/lib/x"}`)
	f.Add("nfs", `{"export":1}`)
	f.Add("", `{}`)
	f.Add("file", `[1,2]`)
	f.Add("file", `{"a":{"b":[{"c":1e999}]}}`)
	f.Fuzz(func(t *testing.T, volumeType, data string) {
		rec := &recordingConnector{device: "/dev/fake"}
		l := NewCinderLocator(map[string]Connector{"file": rec})
		_, err := l.Connect(context.Background(), volID, map[string]string{PublishDriverVolumeType: volumeType, PublishConnectionData: data})
		if err != nil {
			if !errors.Is(err, ErrInvalidArgument) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			if rec.connects != 0 {
				t.Fatal("the connector was reached although the context was refused")
			}
			return
		}
		if rec.connects != 1 || volumeType != "file" {
			t.Fatalf("connected %d times for volume type %q", rec.connects, volumeType)
		}
	})
}
