// Package testbed holds what the suites against the real local OpenStack share about
// the cloud's side: their own clients (Login), the inventory of the project a suite
// takes before and waits for again after (Take, Settle: volumes, snapshots, backups,
// attachments, servers), and the bare Cinder yardsticks its timings are measured
// against. It is test code: nothing in pkg/ or cmd/ imports it.
package testbed
