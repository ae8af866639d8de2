// Package metrics is the driver's Prometheus instrumentation: CSI calls,
// OpenStack requests, retries and throttling, waits, repairs, node failures and
// build info, on a registry passed in (no globals). A nil *Metrics is valid and
// records nothing, so every component works without it. docs/metrics.md lists
// every metric, its labels and what an operator does when it moves.
package metrics
