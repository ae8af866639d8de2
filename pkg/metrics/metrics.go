package metrics

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"k8s.io/klog/v2"
)

const namespace = "cinder_csi"

// Buckets from 5 ms (a cached answer) to 10 minutes (an image-backed create).
var durationBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

// Metrics holds the driver's collectors. Its methods are safe on a nil receiver.
type Metrics struct {
	reg        *prometheus.Registry
	rpc        *prometheus.HistogramVec
	request    *prometheus.HistogramVec
	retries    *prometheus.CounterVec
	retryAfter *prometheus.CounterVec
	waits      *prometheus.HistogramVec
	repairs    *prometheus.CounterVec
	nodeFail   *prometheus.CounterVec
	discovery  prometheus.Histogram
	limit      prometheus.Gauge
}

// Build describes the running binary, for cinder_csi_build_info.
type Build struct {
	Version, CSISpec, Mode, Attacher string
}

// New registers the driver's metrics (and the Go and process collectors) on reg.
func New(reg *prometheus.Registry, b Build) *Metrics {
	m := &Metrics{
		reg: reg,
		rpc: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "operation_duration_seconds",
			Help: "CSI calls served, by method and gRPC code.", Buckets: durationBuckets}, []string{"method", "code"}),
		request: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "openstack_request_duration_seconds",
			Help:    "OpenStack API requests (every attempt), by service, method, path template and HTTP status (0: no answer).",
			Buckets: durationBuckets}, []string{"service", "method", "path", "status"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "openstack_retries_total",
			Help: "OpenStack requests sent again by the transport, by service and reason (throttled, server-error, network)."},
			[]string{"service", "reason"}),
		retryAfter: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "openstack_throttled_wait_seconds_total",
			Help: "Seconds waited before retrying throttled (429) requests, Retry-After honoured, by service."}, []string{"service"}),
		waits: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "wait_duration_seconds",
			Help:    "Waits for Cinder and Nova state changes, by operation and outcome (done, failed, deadline).",
			Buckets: durationBuckets}, []string{"operation", "outcome"}),
		repairs: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "repairs_total",
			Help: "Broken things the driver cleaned up, by kind."}, []string{"kind"}),
		nodeFail: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "node_failures_total",
			Help: "Node operations that failed, by operation, filesystem and kind."}, []string{"operation", "fs_type", "kind"}),
		discovery: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Name: "node_device_discovery_seconds",
			Help: "Time from NodeStageVolume's start until the volume's block device was found.", Buckets: durationBuckets}),
		limit: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: "node_attach_limit",
			Help: "Volumes this node may have attached, as reported to Kubernetes."}),
	}
	build := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: "build_info",
		Help:        "The running driver: always 1.",
		ConstLabels: prometheus.Labels{"version": b.Version, "csi_spec": b.CSISpec, "mode": b.Mode, "attacher": b.Attacher}})
	build.Set(1)
	reg.MustRegister(m.rpc, m.request, m.retries, m.retryAfter, m.waits, m.repairs, build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if b.Mode != "controller" {
		reg.MustRegister(m.nodeFail, m.discovery, m.limit)
	}
	return m
}

// Handler serves the registry at /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// UnaryInterceptor times every CSI call by method and code.
func (m *Metrics) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := handler(ctx, req)
		if m != nil {
			m.rpc.WithLabelValues(info.FullMethod, status.Code(err).String()).Observe(time.Since(start).Seconds())
		}
		return resp, err
	}
}

// Request implements cinder.Observer.
func (m *Metrics) Request(service, method, path string, code int, took time.Duration) {
	if m == nil {
		return
	}
	m.request.WithLabelValues(service, method, path, strconv.Itoa(code)).Observe(took.Seconds())
}

// Retry implements cinder.Observer.
func (m *Metrics) Retry(service string, code int, wait time.Duration) {
	if m == nil {
		return
	}
	reason := retryNetwork
	switch {
	case code == http.StatusTooManyRequests:
		reason = retryThrottled
		m.retryAfter.WithLabelValues(service).Add(wait.Seconds())
	case code >= 500:
		reason = retryServerError
	}
	m.retries.WithLabelValues(service, reason).Inc()
}

// Retry reasons.
const (
	retryThrottled   = "throttled"
	retryServerError = "server-error"
	retryNetwork     = "network"
)

// Zero starts the counters whose label values are known in advance at 0: retries
// and throttled waits for each service, repairs of each kind. A series that first
// appears at its first event leaves rate() and increase() empty rather than 0 in
// the alerts and panels until then, and the first event uncounted by them.
func (m *Metrics) Zero(services, repairKinds []string) {
	if m == nil {
		return
	}
	for _, s := range services {
		m.retryAfter.WithLabelValues(s)
		for _, r := range []string{retryThrottled, retryServerError, retryNetwork} {
			m.retries.WithLabelValues(s, r)
		}
	}
	for _, k := range repairKinds {
		m.repairs.WithLabelValues(k)
	}
}

// Wait implements cinder.Observer.
func (m *Metrics) Wait(operation, outcome string, took time.Duration) {
	if m == nil {
		return
	}
	m.waits.WithLabelValues(operation, outcome).Observe(took.Seconds())
}

// Repair implements cinder.Observer, and counts the node's repairs too.
func (m *Metrics) Repair(kind string) {
	if m == nil {
		return
	}
	m.repairs.WithLabelValues(kind).Inc()
}

// NodeFailure counts a failed node operation (stage, publish, expand) by filesystem
// and kind (format, fsck, mount, resize, device-not-found, other).
func (m *Metrics) NodeFailure(operation, fsType, kind string) {
	if m == nil {
		return
	}
	m.nodeFail.WithLabelValues(operation, fsType, kind).Inc()
}

// DeviceFound records how long finding a staged volume's device took.
func (m *Metrics) DeviceFound(took time.Duration) {
	if m == nil {
		return
	}
	m.discovery.Observe(took.Seconds())
}

// StagedVolumes exposes cinder_csi_node_volumes_staged, read from count at each
// scrape (the mount table, not the plugin's memory, so it survives restarts). A
// count that fails leaves the metric out of that scrape.
func (m *Metrics) StagedVolumes(count func() (int, error)) {
	if m == nil {
		return
	}
	m.reg.MustRegister(stagedCollector{count: count, desc: prometheus.NewDesc(prometheus.BuildFQName(namespace, "", "node_volumes_staged"),
		"Filesystem volumes of this driver mounted at a kubelet staging path on this node, from the mount table.", nil, nil)})
}

type stagedCollector struct {
	count func() (int, error)
	desc  *prometheus.Desc
}

func (c stagedCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c stagedCollector) Collect(ch chan<- prometheus.Metric) {
	n, err := c.count()
	if err != nil {
		klog.V(2).InfoS("Counting staged volumes for the metrics failed", "err", err)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n))
}

// AttachLimit sets the attach limit the node reports.
func (m *Metrics) AttachLimit(n int) {
	if m == nil {
		return
	}
	m.limit.Set(float64(n))
}
