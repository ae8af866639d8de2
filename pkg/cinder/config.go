package cinder

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v2"
)

// Config says how to reach OpenStack. It is loaded from one of three sources (see
// LoadConfig) and only read afterwards. Secrets are of type Secret so that no
// formatting verb, log call or JSON encoding can print them.
type Config struct {
	// Source names where the configuration came from, for messages
	// ("cloud.conf /etc/config/cloud.conf", "clouds.yaml /etc/openstack/clouds.yaml cloud \"prod\"").
	Source string

	// Keystone v3.
	AuthURL  string
	Username string
	UserID   string
	Password Secret
	// ProjectName/ProjectID scope password tokens; application credentials are
	// already scoped and ignore them.
	ProjectName string
	ProjectID   string
	// DomainName/DomainID are the fallback for both the user and the project domain.
	DomainName        string
	DomainID          string
	UserDomainName    string
	UserDomainID      string
	ProjectDomainName string
	ProjectDomainID   string

	ApplicationCredentialID     string
	ApplicationCredentialName   string
	ApplicationCredentialSecret Secret

	// Region selects the catalog endpoints; empty takes the first one.
	Region string
	// EndpointType is the catalog interface: "public" (default), "internal" or "admin".
	EndpointType string

	// TLS towards Keystone, Cinder and Nova.
	CAFile         string
	Insecure       bool
	ClientCertFile string
	ClientKeyFile  string

	// NoAuth talks to a standalone Cinder (auth_strategy = noauth) at Endpoint,
	// without Keystone or Nova. Endpoint is Cinder's version root, such as
	// http://127.0.0.1:8776/v3; the project (ProjectID, else ProjectName, else
	// "admin") is appended to it and sent with the user in the noauth token.
	NoAuth   bool
	Endpoint string

	// MetadataSearchOrder is cloud.conf's [Metadata] search-order, if set.
	MetadataSearchOrder []string

	BlockStorageOptions
}

// BlockStorageOptions are cloud.conf's [BlockStorage] settings.
type BlockStorageOptions struct {
	// NodeVolumeAttachLimit is the most volumes a node may have attached; 0 means
	// the driver's default.
	NodeVolumeAttachLimit int
	// RescanOnResize asks the node to rescan the device after an expansion.
	RescanOnResize bool
	// IgnoreVolumeAZ creates volumes without an availability zone, for clouds whose
	// Cinder zones do not match the Nova zones.
	IgnoreVolumeAZ bool
}

// Secret is a password or credential secret. It prints as "<redacted>" (or "" when
// empty) through every fmt verb and JSON, so a Config can be logged whole.
type Secret string

const redacted = "<redacted>"

// Format implements fmt.Formatter so that %v, %+v, %#v, %s and %q all hide the value.
func (s Secret) Format(f fmt.State, _ rune) {
	if s == "" {
		fmt.Fprint(f, `""`)
		return
	}
	fmt.Fprint(f, redacted)
}

// MarshalJSON hides the value from JSON log encoders.
func (s Secret) MarshalJSON() ([]byte, error) {
	if s == "" {
		return []byte(`""`), nil
	}
	return []byte(`"` + redacted + `"`), nil
}

// String summarises the configuration for a start-up log line; it never contains
// a secret.
func (c *Config) String() string {
	if c == nil {
		return "<nil>"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s:", c.Source)
	if c.NoAuth {
		fmt.Fprintf(&b, " noauth endpoint=%s user=%s project=%s", c.Endpoint, c.noAuthUser(), c.noAuthProject())
	} else {
		fmt.Fprintf(&b, " auth_url=%s auth=%s", c.AuthURL, c.authMethod())
		for _, kv := range [][2]string{
			{"user", c.Username}, {"user_id", c.UserID},
			{"application_credential_id", c.ApplicationCredentialID},
			{"application_credential_name", c.ApplicationCredentialName},
			{"project", c.ProjectName}, {"project_id", c.ProjectID},
			{"region", c.Region}, {"endpoint_type", c.EndpointType},
		} {
			if kv[1] != "" {
				fmt.Fprintf(&b, " %s=%s", kv[0], kv[1])
			}
		}
	}
	if c.CAFile != "" {
		fmt.Fprintf(&b, " ca_file=%s", c.CAFile)
	}
	if c.Insecure {
		b.WriteString(" insecure=true")
	}
	return b.String()
}

// GoString keeps %#v as safe as %v.
func (c *Config) GoString() string { return c.String() }

// authMethod names the Keystone method the configuration selects.
func (c *Config) authMethod() string {
	switch {
	case c.NoAuth:
		return "noauth"
	case c.ApplicationCredentialID != "" || c.ApplicationCredentialName != "":
		return "application_credential"
	default:
		return "password"
	}
}

func (c *Config) noAuthUser() string {
	return firstNonEmpty(c.Username, c.UserID, "admin")
}

func (c *Config) noAuthProject() string {
	return firstNonEmpty(c.ProjectID, c.ProjectName, "admin")
}

// LoadConfig reads the cloud configuration.
//
//   - path "": the OS_* environment variables (as set by an openrc file).
//   - a clouds.yaml file (YAML with a top-level "clouds" key): the cloud named
//     cloudName; when cloudName is "", OS_CLOUD, else the only cloud, else "openstack".
//   - anything else: cloud-provider-openstack's INI cloud.conf.
//
// The result is validated; errors name the file and key to fix.
func LoadConfig(path, cloudName string) (*Config, error) {
	if path == "" {
		return configFromEnv()
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read cloud config: %w", err)
	}
	if isCloudsYAML(data) {
		return configFromCloudsYAML(path, data, cloudName)
	}
	return configFromINI(path, data)
}

// isCloudsYAML reports whether data is YAML with a top-level "clouds" key. An INI
// file is not valid YAML (or has no such key), so this cannot misread a cloud.conf.
func isCloudsYAML(data []byte) bool {
	var top map[string]any
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&top); err != nil {
		return false
	}
	_, ok := top["clouds"]
	return ok
}

// keyNames spells the configuration keys the way the source does, so validation
// messages point at what the operator has to edit.
type keyNames struct {
	where                            string
	authURL, username, userID        string
	password, userDomain, project    string
	appCredID, appCredName, appCredS string
	endpoint                         string
}

// validate checks that the configuration can authenticate. It does not contact
// anything; wrong values surface in NewClient.
func (c *Config) validate(k keyNames) error {
	if c.NoAuth {
		if c.Endpoint == "" {
			return fmt.Errorf("%s uses noauth but has no %s: set it to Cinder's URL, for example http://127.0.0.1:8776/v3", k.where, k.endpoint)
		}
		return checkURL(k.where, k.endpoint, c.Endpoint)
	}
	if c.AuthURL == "" {
		return fmt.Errorf("%s needs %s (Keystone's URL, for example https://keystone.example.com:5000/v3)", k.where, k.authURL)
	}
	if err := checkURL(k.where, k.authURL, c.AuthURL); err != nil {
		return err
	}
	switch {
	case c.ApplicationCredentialID != "" || c.ApplicationCredentialName != "":
		if c.ApplicationCredentialSecret == "" {
			return fmt.Errorf("%s has an application credential but no %s", k.where, k.appCredS)
		}
		if c.ApplicationCredentialID == "" {
			// A credential named rather than identified belongs to a user.
			if c.UserID == "" && c.Username == "" {
				return fmt.Errorf("%s has %s %q but not its owner: add %s or %s, or use %s instead",
					k.where, k.appCredName, c.ApplicationCredentialName, k.username, k.userID, k.appCredID)
			}
			if c.UserID == "" && !c.userDomainSet() {
				return fmt.Errorf("%s has %s but no %s", k.where, k.username, k.userDomain)
			}
		}
	case c.Password != "":
		if c.Username == "" && c.UserID == "" {
			return fmt.Errorf("%s has %s but neither %s nor %s", k.where, k.password, k.username, k.userID)
		}
		if c.UserID == "" && !c.userDomainSet() {
			return fmt.Errorf("%s has %s but no %s", k.where, k.username, k.userDomain)
		}
		if c.ProjectID == "" && c.ProjectName == "" {
			return fmt.Errorf("%s needs %s: Cinder volumes belong to a project", k.where, k.project)
		}
	default:
		return fmt.Errorf("%s has no credentials: set %s (with %s or %s), or %s and %s",
			k.where, k.password, k.username, k.userID, k.appCredID, k.appCredS)
	}
	return nil
}

func (c *Config) userDomainSet() bool {
	return c.UserDomainName != "" || c.UserDomainID != "" || c.DomainName != "" || c.DomainID != ""
}

func checkURL(where, key, value string) error {
	if !strings.HasPrefix(value, "http://") && !strings.HasPrefix(value, "https://") {
		return fmt.Errorf("%s: %s %q is not an http:// or https:// URL", where, key, value)
	}
	return nil
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}
