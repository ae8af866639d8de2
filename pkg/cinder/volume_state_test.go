package cinder

import "testing"

func TestVolumeState(t *testing.T) {
	for _, tc := range []struct {
		status                            string
		usable, pending, failed, inFlight bool
	}{
		{StatusAvailable, true, false, false, false},
		{StatusInUse, true, false, false, false},
		{StatusCreating, false, true, false, false},
		{StatusDownloading, false, true, false, false},
		{StatusRestoringBackup, false, true, false, false},
		{StatusError, false, false, true, false},
		{StatusErrorExtending, false, false, true, false},
		{StatusErrorRestoring, false, false, true, false},
		{StatusReserved, false, false, false, true},
		{StatusAttaching, false, false, false, true},
		{StatusDetaching, false, false, false, true},
		{StatusExtending, false, false, false, false},
		{StatusDeleting, false, false, false, false},
	} {
		v := &Volume{Status: tc.status}
		if v.Usable() != tc.usable || v.Pending() != tc.pending || v.Failed() != tc.failed || v.InFlight() != tc.inFlight {
			t.Errorf("%s: usable %v pending %v failed %v in flight %v; want %v %v %v %v", tc.status,
				v.Usable(), v.Pending(), v.Failed(), v.InFlight(), tc.usable, tc.pending, tc.failed, tc.inFlight)
		}
	}
}
