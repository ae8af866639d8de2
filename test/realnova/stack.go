package realnova

import (
	"context"

	"github.com/cinder-csi/cinder-csi-driver/test/internal/testbed"
)

// Stack is the tests' own view of the cloud, apart from the driver's client: the
// servers they boot and the disks they plug, as an operator or a compute host would.
type Stack struct {
	*testbed.Clients
}

// NewStack logs in to a cloud of the test bed's clouds.yaml.
func NewStack(ctx context.Context, cloud string) (*Stack, error) {
	c, err := testbed.Login(ctx, cloud)
	if err != nil {
		return nil, err
	}
	return &Stack{Clients: c}, nil
}
