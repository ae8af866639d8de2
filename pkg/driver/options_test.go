package driver

import (
	"flag"
	"strings"
	"testing"
	"time"
)

func TestOptionsValidate(t *testing.T) {
	base := func() Options {
		var o Options
		o.AddFlags(flag.NewFlagSet("t", flag.ContinueOnError))
		return o
	}
	tests := []struct {
		name   string
		change func(*Options)
		want   string
	}{
		{"defaults", func(*Options) {}, ""},
		{"bad endpoint", func(o *Options) { o.Endpoint = "/csi.sock" }, "--endpoint"},
		{"bad mode", func(o *Options) { o.Mode = "both" }, "--mode"},
		{"bad attacher", func(o *Options) { o.Attacher = "ironic" }, "--attacher"},
		{"nova node id", func(o *Options) { o.NodeID = "worker-1" }, "Nova server UUID"},
		{"cinder node id", func(o *Options) { o.Attacher, o.NodeID = AttacherCinder, "worker-1" }, ""},
		{"driver name", func(o *Options) { o.DriverName = "Cinder_CSI" }, "--driver-name"},
		{"metadata url", func(o *Options) { o.MetadataURL = "169.254.169.254" }, "--metadata-url"},
		{"wait order", func(o *Options) { o.WaitMinInterval = 2 * time.Second }, "each must be at most the next"},
		{"negative wait", func(o *Options) { o.WaitMax = -time.Second }, "none may be negative"},
		{"search order", func(o *Options) { o.MetadataSearchOrder = "configDrive,ec2" }, "ec2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := base()
			tt.change(&o)
			err := o.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tt.want)
			}
		})
	}
}

func TestParseEndpoint(t *testing.T) {
	for ep, want := range map[string]string{
		"unix:///csi/csi.sock": "unix /csi/csi.sock", "unix://csi.sock": "unix csi.sock", "tcp://127.0.0.1:10000": "tcp 127.0.0.1:10000",
	} {
		n, a, err := ParseEndpoint(ep)
		if err != nil || n+" "+a != want {
			t.Errorf("ParseEndpoint(%q) = %s %s %v, want %s", ep, n, a, err, want)
		}
	}
}
