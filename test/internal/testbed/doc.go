// Package testbed holds what the suites share about the test bed: where its
// clouds.yaml is (CloudsFile), their own clients of the real local OpenStack
// (Login), the bare Cinder yardsticks their timings are measured against, the
// driver binary they run (DriverBinary), the driver run in-process with the
// real node side (StartDriver, Serve, NodeDeps, DriverOptions, and the signed node
// identities Node and NodeID), the walk through a volume's life that make demo and
// the real-Cinder suites share (Walk), and how they wait for a driver to serve on
// its socket (WaitServing, Run). The inventory a suite takes before and waits
// for again after is package inventory, apart so that the realcinder package's
// own tests can use it too. It is test code: nothing in pkg/ or cmd/ imports it,
// and it imports no suite.
package testbed
