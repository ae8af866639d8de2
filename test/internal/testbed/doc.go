// Package testbed holds what the suites against the real local OpenStack share about
// the cloud's side: their own clients (Login) and the bare Cinder yardsticks its
// timings are measured against. The inventory a suite takes before and waits for again
// after is package inventory, apart so that the realcinder package's own tests can use
// it too. It is test code: nothing in pkg/ or cmd/ imports it.
package testbed
