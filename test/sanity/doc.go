// Package sanity runs csi-test's sanity suite against the driver in "all" mode with
// the in-memory fake cloud and REAL node operations: the fake's Cinder attachments hand
// the node a sparse file that the file connector turns into a loop device, so staging
// really formats and mounts. It needs root and losetup; elsewhere it skips, saying why.
package sanity
