// Command bench measures the driver against the real local Cinder and Nova (make
// bench; make test runs it with a small N so that it cannot rot). It drives the
// real binary over its gRPC socket and, interleaved with it, a direct gophercloud
// baseline that polls every 50 ms, both through one counting proxy. It prints one
// machine-readable line per figure ("bench: op=… ours_p50=… direct_p50=… ratio=…
// calls=…"); it asserts no timing, but fails if an operation fails or if the
// project's inventory (volumes, snapshots, backups, attachments, servers) is not
// the same at the end as at the start.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/klog/v2"
)

func main() {
	o := benchOptions{}
	flag.IntVar(&o.n, "n", 20, "operations per figure and concurrency")
	conc := flag.String("c", "1,8", "concurrencies, comma separated")
	scales := flag.String("scale", "10,100,1000", "project sizes (volumes) for the publish and ListVolumes cost, comma separated")
	flag.IntVar(&o.burst, "burst", 50, "concurrent creates of the memory burst")
	flag.BoolVar(&o.nova, "nova", true, "also measure the Nova attach path (needs make openstack-up)")
	flag.StringVar(&o.bin, "driver", os.Getenv("CSI_DRIVER_BIN"), "the driver binary (default $CSI_DRIVER_BIN)")
	flag.StringVar(&o.cloud, "cloud", "local", "cloud of the test bed's clouds.yaml ($CINDER_CSI_CLOUDS)")
	flag.Parse()
	var err error
	if o.conc, err = ints(*conc); err == nil {
		o.scales, err = ints(*scales)
	}
	if err != nil || o.n < 1 || o.bin == "" {
		fmt.Fprintf(os.Stderr, "bench: bad flags (%v); -driver or $CSI_DRIVER_BIN is needed\n", err)
		os.Exit(2)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	start := time.Now()
	if err := run(ctx, o); err != nil {
		klog.Flush()
		fmt.Fprintf(os.Stderr, "bench: FAILED after %s: %v\n", time.Since(start).Round(time.Second), err)
		os.Exit(1)
	}
	fmt.Printf("bench: done in %s\n", time.Since(start).Round(time.Second))
}

type benchOptions struct {
	n, burst   int
	conc       []int
	scales     []int
	nova       bool
	bin, cloud string
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, n)
	}
	return out, nil
}
