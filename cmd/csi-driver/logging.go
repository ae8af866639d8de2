package main

import (
	"fmt"
	"io"
	"sync"

	"github.com/go-logr/logr/funcr"
	"k8s.io/klog/v2"
)

// Log formats of --logging-format, named as in Kubernetes components and the CSI
// sidecars so that one chart value sets them all.
const (
	logFormatText = "text"
	logFormatJSON = "json"
)

// setupLogging routes klog to w in the given format. Text is klog's own output;
// JSON writes one object a line (ts, caller, level, msg and the structured
// key/value pairs), which log pipelines parse without rules. klog's --v still
// decides what is logged.
func setupLogging(format string, w io.Writer) error {
	switch format {
	case logFormatText, "":
		return nil
	case logFormatJSON:
		var mu sync.Mutex
		write := func(line string) {
			mu.Lock()
			defer mu.Unlock()
			_, _ = io.WriteString(w, line+"\n")
		}
		klog.SetLogger(funcr.NewJSON(write, funcr.Options{
			LogCaller:       funcr.All,
			LogTimestamp:    true,
			TimestampFormat: "2006-01-02T15:04:05.000000Z07:00",
			// klog has already applied --v before a line reaches the logger.
			Verbosity:          1 << 30,
			RenderBuiltinsHook: dropEmptyLogger,
		}))
		return nil
	default:
		return fmt.Errorf("--logging-format %q: use %q or %q", format, logFormatText, logFormatJSON)
	}
}

// dropEmptyLogger leaves out the "logger" key of the unnamed root logger.
func dropEmptyLogger(kv []any) []any {
	out := kv[:0]
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i] == "logger" && kv[i+1] == "" {
			continue
		}
		out = append(out, kv[i], kv[i+1])
	}
	return out
}
