package mount

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Connector makes the block device of one Cinder driver_volume_type appear on the
// node, and takes it away.
type Connector interface {
	// Connect returns the volume's block device from Cinder's connection_info.data
	// (decoded from JSON with numbers as json.Number). Idempotent; bounded by ctx.
	// Malformed data is ErrInvalidArgument; a backing store that is absent is
	// ErrDeviceNotFound.
	Connect(ctx context.Context, volumeID string, data map[string]any) (string, error)
	// Disconnect undoes every Connect of the volume, finding what to undo on the
	// system. A volume this connector never connected is not an error.
	Disconnect(ctx context.Context, volumeID string) error
}

// CinderLocator serves volumes attached through Cinder's attachment API (no Nova), by
// handing the connection info to the Connector of its driver_volume_type.
type CinderLocator struct {
	connectors map[string]Connector
}

var _ DeviceLocator = (*CinderLocator)(nil)

// NewCinderLocator returns a locator dispatching on driver_volume_type, for example
// {"file": NewFileConnector(loop)}.
func NewCinderLocator(connectors map[string]Connector) *CinderLocator {
	return &CinderLocator{connectors: maps.Clone(connectors)}
}

func (c *CinderLocator) Connect(ctx context.Context, volumeID string, publishContext map[string]string) (string, error) {
	if err := checkVolumeID(volumeID); err != nil {
		return "", err
	}
	volumeType := publishContext[PublishDriverVolumeType]
	if volumeType == "" {
		return "", fmt.Errorf("%w: publish context of volume %s has no %q: the controller must copy Cinder's connection_info.driver_volume_type",
			ErrInvalidArgument, volumeID, PublishDriverVolumeType)
	}
	connector, ok := c.connectors[volumeType]
	if !ok {
		return "", fmt.Errorf("%w: volume %s has driver_volume_type %q; this node supports: %s",
			ErrUnsupported, volumeID, volumeType, c.supported())
	}
	data, err := decodeConnectionData(publishContext[PublishConnectionData])
	if err != nil {
		return "", fmt.Errorf("%w: connection data of volume %s: %v", ErrInvalidArgument, volumeID, err)
	}
	return connector.Connect(ctx, volumeID, data)
}

// Disconnect asks every connector, because the publish context is gone by then and any
// of them may hold the volume; all are asked even when one fails.
func (c *CinderLocator) Disconnect(ctx context.Context, volumeID string) error {
	if err := checkVolumeID(volumeID); err != nil {
		return err
	}
	var errs []error
	for _, volumeType := range slices.Sorted(maps.Keys(c.connectors)) {
		if err := c.connectors[volumeType].Disconnect(ctx, volumeID); err != nil {
			errs = append(errs, fmt.Errorf("disconnect %s volume %s: %w", volumeType, volumeID, err))
		}
	}
	return errors.Join(errs...)
}

func (c *CinderLocator) supported() string {
	if len(c.connectors) == 0 {
		return "none"
	}
	return strings.Join(slices.Sorted(maps.Keys(c.connectors)), ", ")
}

func decodeConnectionData(raw string) (map[string]any, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, fmt.Errorf("%q is missing from the publish context", PublishConnectionData)
	}
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	var data map[string]any
	if err := dec.Decode(&data); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	if data == nil {
		return nil, errors.New("is null, want a JSON object")
	}
	return data, nil
}
