package cinder

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/noauth"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/limits"
	"k8s.io/klog/v2"
)

// ClientOptions tune how a Client talks to the cloud.
type ClientOptions struct {
	// UserAgent is prepended to gophercloud's User-Agent, for the cloud's logs.
	UserAgent string
	// HTTPTimeout bounds one API request, including its transport-level retries.
	// 0 means one minute.
	HTTPTimeout time.Duration
	// WrapTransport, if set, wraps the HTTP transport below the retry layer, so it
	// sees every attempt: the place for API metrics.
	WrapTransport func(http.RoundTripper) http.RoundTripper
	// Waits tune how the client waits for Cinder and Nova to finish a change.
	Waits WaitOptions
	// Observer hears every request, retry, wait and repair (metrics); nil: none.
	Observer Observer
}

// WaitOptions tune the status checks of a wait (wait.go, wait_schedule.go). Zero
// values take the defaults.
type WaitOptions struct {
	// Initial is the first pause of the fixed schedule (default 1 s: checks at 0.5,
	// 1, 1.75, 2.9 s after a request); Max caps the pause (default 5 s).
	Initial, Max time.Duration
	// MinInterval is the shortest pause between two checks of one wait (default
	// 50 ms), learned schedule included.
	MinInterval time.Duration
	// Fixed turns learning off: every wait uses the fixed schedule.
	Fixed bool
}

// Default wait settings.
const (
	DefaultWaitInitial     = time.Second
	DefaultWaitMax         = 5 * time.Second
	DefaultWaitMinInterval = 50 * time.Millisecond
)

// Client is the Cloud implementation on gophercloud. It is safe for concurrent use.
type Client struct {
	cfg    *Config
	volume *gophercloud.ServiceClient
	// compute is nil when Nova is absent (noauth, or no endpoint in the catalog);
	// computeErr then says why, for the error of any Nova call.
	compute    *gophercloud.ServiceClient
	computeErr error

	retry *retryTransport
	// pollInitial and pollMax bound the backoff between status polls; tests
	// shorten them.
	pollInitial time.Duration
	pollMax     time.Duration
	pollFloor   time.Duration
	// history learns how long operations take (nil: fixed schedule).
	history *waitHistory
	// obs hears requests, retries, waits and repairs; services names the service
	// of a request URL once the endpoints are known.
	obs      Observer
	services *services
	// snapshotWait bounds CreateSnapshot's wait for a quick snapshot.
	snapshotWait time.Duration
}

var _ Cloud = (*Client)(nil)

// NewClient authenticates (or, for noauth, does not) and finds the Cinder v3 and
// Nova endpoints. A cloud without Nova is accepted: only NovaAttacher's calls fail.
// Errors say what to fix: credentials, region, endpoint type or URL.
func NewClient(ctx context.Context, cfg *Config, opts ClientOptions) (*Client, error) {
	obs := opts.Observer
	if obs == nil {
		obs = noObserver{}
	}
	svc := &services{}
	httpClient, retry, err := newHTTPClient(cfg, opts, obs, svc)
	if err != nil {
		return nil, err
	}
	c := &Client{
		cfg:         cfg,
		retry:       retry,
		obs:         obs,
		services:    svc,
		pollInitial: orDefault(opts.Waits.Initial, DefaultWaitInitial),
		pollMax:     orDefault(opts.Waits.Max, DefaultWaitMax),
		pollFloor:   orDefault(opts.Waits.MinInterval, DefaultWaitMinInterval),
		// Checks at 0.5, 1 and 1.75 s: most backends (Ceph, LVM thin, NFS) finish a
		// snapshot well within it, and answering ready spares Kubernetes the
		// snapshotter's retry (about a second more to ReadyToUse).
		snapshotWait: 2 * time.Second,
	}
	if !opts.Waits.Fixed {
		c.history = newWaitHistory()
	}
	var provider *gophercloud.ProviderClient
	if cfg.NoAuth {
		provider, err = c.connectNoAuth()
	} else {
		provider, err = c.connectKeystone(ctx, httpClient)
	}
	if err != nil {
		return nil, err
	}
	provider.HTTPClient = httpClient
	endpoints := map[string]string{c.volume.Endpoint: ServiceVolume}
	if c.compute != nil {
		endpoints[c.compute.Endpoint] = ServiceCompute
	}
	c.services.set(endpoints)
	if opts.UserAgent != "" {
		provider.UserAgent.Prepend(opts.UserAgent)
	}

	// A cheap authenticated call proves the endpoint, the token and the project
	// before the driver starts serving.
	if _, err := limits.Get(ctx, c.cinder(mvCinderBase)).Extract(); err != nil {
		return nil, fmt.Errorf("Cinder at %s does not answer (%s): %w", c.volume.Endpoint, cfg.Source, mapError(err))
	}
	klog.InfoS("Connected to OpenStack", "config", cfg.String(), "cinder", c.volume.Endpoint,
		"nova", c.compute != nil)
	return c, nil
}

func newHTTPClient(cfg *Config, opts ClientOptions, obs Observer, svc *services) (http.Client, *retryTransport, error) {
	tlsConfig, err := cfg.tlsConfig()
	if err != nil {
		return http.Client{}, nil, err
	}
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.TLSClientConfig = tlsConfig
	var rt http.RoundTripper = base
	if opts.WrapTransport != nil {
		rt = opts.WrapTransport(rt)
	}
	rt = &observedTransport{next: rt, obs: obs, services: svc}
	timeout := opts.HTTPTimeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	retry := newRetryTransport(rt, obs, svc)
	return http.Client{Transport: retry, Timeout: timeout}, retry, nil
}

func (c *Client) connectNoAuth() (*gophercloud.ProviderClient, error) {
	cfg := c.cfg
	provider, err := noauth.NewClient(gophercloud.AuthOptions{Username: cfg.noAuthUser(), TenantName: cfg.noAuthProject()})
	if err != nil {
		return nil, err
	}
	c.volume, err = noauth.NewBlockStorageNoAuthV3(provider, noauth.EndpointOpts{CinderEndpoint: cfg.Endpoint})
	if err != nil {
		return nil, fmt.Errorf("%s: Cinder endpoint %q: %w", cfg.Source, cfg.Endpoint, err)
	}
	c.computeErr = errors.New("noauth mode talks to Cinder only")
	return provider, nil
}

func (c *Client) connectKeystone(ctx context.Context, httpClient http.Client) (*gophercloud.ProviderClient, error) {
	cfg := c.cfg
	availability, err := availabilityOf(cfg.EndpointType)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Source, err)
	}
	provider, err := openstack.NewClient(cfg.AuthURL)
	if err != nil {
		return nil, fmt.Errorf("%s: auth URL %q: %w", cfg.Source, cfg.AuthURL, err)
	}
	provider.HTTPClient = httpClient
	ao := cfg.authOptions()
	if err := openstack.AuthenticateV3(ctx, provider, &ao, gophercloud.EndpointOpts{}); err != nil {
		return nil, fmt.Errorf("authentication to Keystone at %s failed (%s, %s): %w",
			cfg.AuthURL, cfg.Source, cfg.authMethod(), mapError(err))
	}
	eo := gophercloud.EndpointOpts{Region: cfg.Region, Availability: availability}
	c.volume, err = openstack.NewBlockStorageV3(provider, eo)
	if err != nil {
		return nil, fmt.Errorf("Keystone's catalog has no Cinder v3 (block-storage/volumev3) endpoint with interface %q in region %q: check region and endpoint type in %s: %w",
			availability, cfg.Region, cfg.Source, mapError(err))
	}
	c.compute, err = openstack.NewComputeV2(provider, eo)
	if err != nil {
		c.compute = nil
		c.computeErr = fmt.Errorf("Keystone's catalog has no compute endpoint with interface %q in region %q: %w", availability, cfg.Region, err)
		klog.InfoS("Nova is not available; only Cinder attachments will work", "reason", c.computeErr)
	}
	return provider, nil
}

// authOptions turns the configuration into Keystone v3 options. IDs win over
// names because Keystone rejects a request that carries both.
func (c *Config) authOptions() gophercloud.AuthOptions {
	ao := gophercloud.AuthOptions{
		IdentityEndpoint: c.AuthURL,
		// Tokens expire (typically after an hour): let gophercloud log in again.
		AllowReauth: true,
	}
	userDomainID := firstNonEmpty(c.UserDomainID, c.DomainID)
	userDomainName := ""
	if userDomainID == "" {
		userDomainName = firstNonEmpty(c.UserDomainName, c.DomainName)
	}
	if c.ApplicationCredentialID != "" || c.ApplicationCredentialName != "" {
		// Application credentials carry their own scope: Keystone rejects another.
		ao.ApplicationCredentialID = c.ApplicationCredentialID
		ao.ApplicationCredentialName = c.ApplicationCredentialName
		ao.ApplicationCredentialSecret = string(c.ApplicationCredentialSecret)
		if c.ApplicationCredentialID == "" {
			ao.UserID, ao.Username = c.UserID, c.Username
			ao.DomainID, ao.DomainName = userDomainID, userDomainName
		}
		return ao
	}
	ao.UserID, ao.Password = c.UserID, string(c.Password)
	if c.UserID == "" {
		ao.Username = c.Username
		ao.DomainID, ao.DomainName = userDomainID, userDomainName
	}
	switch {
	case c.ProjectID != "":
		ao.Scope = &gophercloud.AuthScope{ProjectID: c.ProjectID}
	case c.ProjectName != "":
		scope := &gophercloud.AuthScope{ProjectName: c.ProjectName}
		// A project named without a domain is most often in the user's domain.
		if id := firstNonEmpty(c.ProjectDomainID, c.DomainID); id != "" {
			scope.DomainID = id
		} else if name := firstNonEmpty(c.ProjectDomainName, c.DomainName); name != "" {
			scope.DomainName = name
		} else if userDomainID != "" {
			scope.DomainID = userDomainID
		} else if userDomainName != "" {
			scope.DomainName = userDomainName
		} else {
			scope.DomainID = "default"
		}
		ao.Scope = scope
	}
	return ao
}

func availabilityOf(endpointType string) (gophercloud.Availability, error) {
	switch endpointType {
	case "", "public", "publicURL":
		return gophercloud.AvailabilityPublic, nil
	case "internal", "internalURL":
		return gophercloud.AvailabilityInternal, nil
	case "admin", "adminURL":
		return gophercloud.AvailabilityAdmin, nil
	}
	return "", fmt.Errorf("endpoint type %q is not public, internal or admin", endpointType)
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
