// Command csi-driver is the Cinder CSI driver: flags into driver.Options, Validate,
// cloud and host collaborators, then Run until SIGTERM or SIGINT.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/klog/v2"

	"github.com/cinder-csi/cinder-csi-driver/pkg/driver"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	fs := flag.NewFlagSet("csi-driver", flag.ExitOnError)
	klog.InitFlags(fs)
	logFormat := fs.String("logging-format", logFormatText, "log format: text (klog) or json (one object a line)")
	var opts driver.Options
	opts.AddFlags(fs)
	_ = fs.Parse(os.Args[1:])
	if opts.ShowVersion {
		fmt.Println("csi-driver", version)
		return
	}
	if err := setupLogging(*logFormat, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "csi-driver cannot start:", err)
		os.Exit(1)
	}
	if err := run(opts); err != nil {
		if *logFormat == logFormatJSON {
			klog.ErrorS(err, "csi-driver cannot start")
		}
		klog.Flush()
		if *logFormat != logFormatJSON {
			fmt.Fprintln(os.Stderr, "csi-driver cannot start:", err)
		}
		os.Exit(1)
	}
}

func run(opts driver.Options) error {
	if err := opts.Validate(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	deps, err := buildDeps(ctx, opts)
	if err != nil {
		return err
	}
	d, err := driver.New(opts, deps)
	if err != nil {
		return err
	}
	return d.Run(ctx)
}
