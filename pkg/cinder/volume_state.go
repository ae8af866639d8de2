package cinder

import "strings"

// What a volume's Cinder status means to a caller, so that no caller outside
// this package switches on Cinder's status strings.

// Usable reports a volume that is made and can be attached or used: available,
// or in-use (attached, or multiattach and attachable again).
func (v *Volume) Usable() bool { return v.Status == StatusAvailable || v.Status == StatusInUse }

// Pending reports a volume that Cinder is still making: being created, filled
// from an image, or restored from a backup.
func (v *Volume) Pending() bool {
	return v.Status == StatusCreating || v.Status == StatusDownloading || v.Status == StatusRestoringBackup
}

// Failed reports one of Cinder's terminal failure states (error,
// error_extending, error_restoring, ...).
func (v *Volume) Failed() bool { return isErrorStatus(v.Status) }

// InFlight reports an attach or detach in progress: reserved, attaching or
// detaching. One that stays so long is a stuck attachment.
func (v *Volume) InFlight() bool {
	return v.Status == StatusReserved || v.Status == StatusAttaching || v.Status == StatusDetaching
}

// isErrorStatus reports Cinder's terminal failure states, for the volumes,
// snapshots and backups of this package.
func isErrorStatus(status string) bool {
	return strings.HasPrefix(status, "error")
}
