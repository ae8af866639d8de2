package mount

import (
	"context"
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

// Connect hands the connection data to the connector of its driver_volume_type.
func (c *CinderLocator) Connect(ctx context.Context, volumeID string, att Attachment) (string, error) {
	if err := checkVolumeID(volumeID); err != nil {
		return "", err
	}
	if att.DriverVolumeType == "" {
		return "", fmt.Errorf("%w: attachment of volume %s has no driver_volume_type: the controller must copy Cinder's connection_info.driver_volume_type",
			ErrInvalidArgument, volumeID)
	}
	connector, ok := c.connectors[att.DriverVolumeType]
	if !ok {
		return "", fmt.Errorf("%w: volume %s has driver_volume_type %q; this node supports: %s",
			ErrUnsupported, volumeID, att.DriverVolumeType, c.supported())
	}
	if att.Data == nil {
		return "", fmt.Errorf("%w: attachment of volume %s has no connection data: the controller must copy Cinder's connection_info.data",
			ErrInvalidArgument, volumeID)
	}
	return connector.Connect(ctx, volumeID, att.Data)
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
