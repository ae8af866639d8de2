// Package inventory is the full inventory of the test project that every suite against
// the real local OpenStack takes before it starts and waits for again after its
// cleanups (Take, Settle, Leftovers): volumes, snapshots, backups, Cinder
// attachments, groups and group snapshots, and Nova servers where Nova is. It
// imports no suite package, so every suite, the realcinder package's own tests
// included, can use it.
package inventory
