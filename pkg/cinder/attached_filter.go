package cinder

import "encoding/json"

// attachedStatuses are the volume states under which Cinder can show an
// attachment: being reserved, attached, detached, and the operations Cinder
// allows on an attached volume (online extend, retype, backup, upload, an
// admin's maintenance or reset to error). A volume in any other state
// (available, creating, downloading, deleting, restoring, awaiting transfer,
// managing) has none, so the attached-volume index can leave those out, and
// they are nearly all of a large project.
var attachedStatuses = []string{
	StatusReserved, StatusAttaching, StatusInUse, StatusDetaching,
	StatusExtending, StatusErrorExtending, StatusRetyping,
	StatusBackingUp, "error_backing-up", "uploading", "maintenance",
	StatusError,
}

// statusIn is the value of a volume listing's status filter that matches any of
// statuses. Cinder reads each filter value as a Python literal
// (check_volume_filters), and a list becomes an IN clause; a plain string
// matches exactly.
func statusIn(statuses []string) string {
	b, _ := json.Marshal(statuses) // a []string always marshals
	return string(b)
}
