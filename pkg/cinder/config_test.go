package cinder

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// clearOSEnv empties every OS_* variable the loaders read, so that the test
// machine's environment cannot leak in.
func clearOSEnv(t *testing.T) {
	for _, e := range os.Environ() {
		if k, _, _ := strings.Cut(e, "="); strings.HasPrefix(k, "OS_") {
			t.Setenv(k, "")
		}
	}
	for _, k := range []string{"OS_CLOUD", "OS_REGION_NAME", "OS_INTERFACE", "OS_CACERT", "OS_CERT", "OS_KEY", "OS_CLIENT_CONFIG_FILE"} {
		t.Setenv(k, "")
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	must(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

const threeClouds = `
clouds:
  prod:
    auth:
      auth_url: https://keystone.example.com:5000/v3
      username: demo
      password: pr0d-Pa55
      project_name: k8s
      user_domain_name: Default
      project_domain_id: default
    region_name: RegionOne
    interface: internal
    cacert: {{CA}}
  appcred:
    auth_type: v3applicationcredential
    auth:
      auth_url: https://keystone.example.com:5000/v3
      application_credential_id: 21dced0fd20347869b93710d2b98aae0
      application_credential_secret: app-S3cret
    region_name: RegionTwo
    verify: false
  standalone:
    auth_type: none
    auth:
      endpoint: http://127.0.0.1:8776/v3
      project_id: csi
      username: cinder-csi
`

// writeCloudsYAML writes threeClouds and the CA file its first cloud names.
func writeCloudsYAML(t *testing.T, dir string) string {
	t.Helper()
	ca := writeFile(t, dir, "ca.pem", string(testCAPEM(t)))
	return writeFile(t, dir, "clouds.yaml", strings.ReplaceAll(threeClouds, "{{CA}}", ca))
}

func TestLoadConfigCloudsYAML(t *testing.T) {
	tests := []struct {
		cloud string
		check func(t *testing.T, c *Config)
	}{
		{"prod", func(t *testing.T, c *Config) {
			if c.AuthURL != "https://keystone.example.com:5000/v3" || c.Username != "demo" || c.Password != "pr0d-Pa55" ||
				c.ProjectName != "k8s" || c.UserDomainName != "Default" || c.ProjectDomainID != "default" ||
				c.Region != "RegionOne" || c.EndpointType != "internal" || !strings.HasSuffix(c.CAFile, "/ca.pem") || c.NoAuth || c.Insecure {
				t.Errorf("%#v", *c)
			}
			if c.authMethod() != "password" {
				t.Errorf("auth method %s", c.authMethod())
			}
		}},
		{"appcred", func(t *testing.T, c *Config) {
			if c.ApplicationCredentialID != "21dced0fd20347869b93710d2b98aae0" || c.ApplicationCredentialSecret != "app-S3cret" ||
				c.Region != "RegionTwo" || !c.Insecure || c.authMethod() != "application_credential" {
				t.Errorf("%#v", *c)
			}
		}},
		{"standalone", func(t *testing.T, c *Config) {
			if !c.NoAuth || c.Endpoint != "http://127.0.0.1:8776/v3" || c.noAuthProject() != "csi" || c.noAuthUser() != "cinder-csi" {
				t.Errorf("%#v", *c)
			}
		}},
	}
	clearOSEnv(t)
	path := writeCloudsYAML(t, t.TempDir())
	for _, tc := range tests {
		t.Run(tc.cloud, func(t *testing.T) {
			c, err := LoadConfig(path, tc.cloud)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(c.Source, tc.cloud) {
				t.Errorf("source %q does not name the cloud", c.Source)
			}
			tc.check(t, c)
		})
	}
}

func TestLoadConfigCloudsYAMLChoosesCloud(t *testing.T) {
	clearOSEnv(t)
	dir := t.TempDir()
	three := writeCloudsYAML(t, dir)
	one := writeFile(t, dir, "one.yaml", `
clouds:
  only:
    auth_type: none
    auth: {endpoint: "http://127.0.0.1:8776/v3"}
`)
	named := writeFile(t, dir, "named.yaml", `
clouds:
  other:
    auth_type: none
    auth: {endpoint: "http://127.0.0.1:1/v3"}
  openstack:
    auth_type: none
    auth: {endpoint: "http://127.0.0.1:8776/v3"}
`)
	if c, err := LoadConfig(one, ""); err != nil || !strings.Contains(c.Source, `"only"`) {
		t.Errorf("single cloud: %v, %v", c, err)
	}
	if c, err := LoadConfig(named, ""); err != nil || !strings.Contains(c.Source, `"openstack"`) {
		t.Errorf("default name: %v, %v", c, err)
	}
	_, err := LoadConfig(three, "")
	if err == nil || !strings.Contains(err.Error(), `has no cloud named "openstack"; it has: appcred, prod, standalone`) {
		t.Errorf("no default: %v", err)
	}
	_, err = LoadConfig(three, "staging")
	if err == nil || !strings.Contains(err.Error(), `has no cloud named "staging"; it has: appcred, prod, standalone`) {
		t.Errorf("unknown cloud: %v", err)
	}
	t.Setenv("OS_CLOUD", "appcred")
	if c, err := LoadConfig(three, ""); err != nil || !strings.Contains(c.Source, `"appcred"`) {
		t.Errorf("OS_CLOUD: %v, %v", c, err)
	}
}

func TestLoadConfigCloudsYAMLSecureYAML(t *testing.T) {
	clearOSEnv(t)
	dir := t.TempDir()
	path := writeFile(t, dir, "clouds.yaml", `
clouds:
  prod:
    auth:
      auth_url: https://keystone.example.com/v3
      username: demo
      project_id: p1
      user_domain_id: default
`)
	writeFile(t, dir, "secure.yaml", "clouds:\n  prod:\n    auth:\n      password: from-secure\n")
	c, err := LoadConfig(path, "prod")
	if err != nil || c.Password != "from-secure" {
		t.Errorf("secure.yaml password not merged: %v, %v", c, err)
	}
}

func TestLoadConfigINI(t *testing.T) {
	clearOSEnv(t)
	path := writeFile(t, t.TempDir(), "cloud.conf", `
[Global]
auth-url = https://keystone.example.com:5000/v3
username = demo
password = "p#ss;word"
tenant-name = k8s
domain-name = Default
region = RegionOne
ca-file = /etc/ssl/ca.pem
tls-insecure = false
endpoint-type = internal
some-new-key = ignored

[BlockStorage]
node-volume-attach-limit = 25
rescan-on-resize = true
ignore-volume-az = yes
bs-version = v3

[Metadata]
search-order = metadataService, configDrive

[LoadBalancer]
use-octavia = true
`)
	c, err := LoadConfig(path, "")
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Source: "cloud.conf " + path, AuthURL: "https://keystone.example.com:5000/v3", Username: "demo",
		Password: "p#ss;word", ProjectName: "k8s", DomainName: "Default", Region: "RegionOne", CAFile: "/etc/ssl/ca.pem",
		EndpointType: "internal", MetadataSearchOrder: []string{"metadataService", "configDrive"},
		BlockStorageOptions: BlockStorageOptions{NodeVolumeAttachLimit: 25, RescanOnResize: true, IgnoreVolumeAZ: true},
	}
	if fmt.Sprint(jsonOf(t, c)) != fmt.Sprint(jsonOf(t, &want)) || c.Password != want.Password {
		t.Errorf("got  %s\nwant %s", jsonOf(t, c), jsonOf(t, &want))
	}
}

func jsonOf(t *testing.T, c *Config) string {
	b, err := json.Marshal(c)
	must(t, err)
	return string(b)
}

func TestLoadConfigINIAppCredentialAndUseClouds(t *testing.T) {
	clearOSEnv(t)
	dir := t.TempDir()
	appcred := writeFile(t, dir, "appcred.conf", `
[Global]
auth-url=https://keystone.example.com/v3
application-credential-id=ac1
application-credential-secret=s3cret
`)
	c, err := LoadConfig(appcred, "")
	if err != nil || c.authMethod() != "application_credential" || c.ApplicationCredentialSecret != "s3cret" {
		t.Errorf("app credential cloud.conf: %+v, %v", c, err)
	}
	clouds := writeCloudsYAML(t, dir)
	useClouds := writeFile(t, dir, "use.conf", fmt.Sprintf(`
[Global]
use-clouds = true
clouds-file = %s
cloud = standalone
[BlockStorage]
node-volume-attach-limit = 7
`, clouds))
	c, err = LoadConfig(useClouds, "")
	if err != nil || !c.NoAuth || c.NodeVolumeAttachLimit != 7 {
		t.Errorf("use-clouds: %+v, %v", c, err)
	}
}

func TestLoadConfigErrorsSayWhatToFix(t *testing.T) {
	tests := []struct {
		name, file, content string
		env                 map[string]string
		want                string
	}{
		{name: "ini without auth-url", file: "cloud.conf", content: "[Global]\nusername=a\npassword=b\n",
			want: "[Global] needs auth-url"},
		{name: "clouds.yaml cloud without auth", file: "clouds.yaml", content: "clouds:\n  openstack:\n    region_name: RegionOne\n",
			want: `cloud "openstack" has no auth section: give auth.auth_url and a password or an application credential`},
		{name: "clouds.yaml cloud that is null", file: "clouds.yaml", content: "clouds:\n  openstack:\n",
			want: `cloud "openstack" has no auth section`},
		{name: "ini username without domain", file: "cloud.conf", content: "[Global]\nauth-url=https://k/v3\nusername=a\npassword=b\nproject-id=p\n",
			want: "[Global] has username but no user-domain-name or user-domain-id"},
		{name: "ini without project", file: "cloud.conf", content: "[Global]\nauth-url=https://k/v3\nuser-id=a\npassword=b\n",
			want: "needs project-name (tenant-name) or project-id (tenant-id)"},
		{name: "ini without credentials", file: "cloud.conf", content: "[Global]\nauth-url=https://k/v3\n",
			want: "has no credentials"},
		{name: "ini app credential without secret", file: "cloud.conf", content: "[Global]\nauth-url=https://k/v3\napplication-credential-id=x\n",
			want: "no application-credential-secret"},
		{name: "ini bad limit", file: "cloud.conf", content: "[BlockStorage]\nnode-volume-attach-limit=many\n",
			want: `[BlockStorage] node-volume-attach-limit "many" is not a non-negative integer`},
		{name: "ini bad bool", file: "cloud.conf", content: "[BlockStorage]\nrescan-on-resize=sometimes\n",
			want: `rescan-on-resize "sometimes" is not a boolean`},
		{name: "ini auth-url not a URL", file: "cloud.conf", content: "[Global]\nauth-url=keystone:5000\nuser-id=a\npassword=b\nproject-id=p\n",
			want: `auth-url "keystone:5000" is not an http:// or https:// URL`},
		{name: "clouds noauth without endpoint", file: "clouds.yaml", content: "clouds:\n  x:\n    auth_type: none\n",
			want: "uses noauth but has no auth.endpoint"},
		{name: "clouds unsupported auth type", file: "clouds.yaml", content: "clouds:\n  x:\n    auth_type: v3oidcpassword\n",
			want: `auth_type "v3oidcpassword" is not supported`},
		{name: "clouds without auth_url", file: "clouds.yaml", content: "clouds:\n  x:\n    auth:\n      username: a\n",
			want: `clouds.yaml`},
		{name: "env without auth url", env: map[string]string{"OS_USERNAME": "a", "OS_PASSWORD": "b"},
			want: "the environment needs OS_AUTH_URL"},
		{name: "missing file", file: "-", want: "read cloud config"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clearOSEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			path := ""
			switch tc.file {
			case "":
			case "-":
				path = filepath.Join(t.TempDir(), "nope.conf")
			default:
				path = writeFile(t, t.TempDir(), tc.file, tc.content)
			}
			_, err := LoadConfig(path, "")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestLoadConfigEnv(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		check func(c *Config) bool
	}{
		{"openrc password", map[string]string{
			"OS_AUTH_URL": "https://k/v3", "OS_USERNAME": "demo", "OS_PASSWORD": "pw", "OS_PROJECT_NAME": "k8s",
			"OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_DOMAIN_ID": "default", "OS_REGION_NAME": "RegionOne", "OS_INTERFACE": "public",
		}, func(c *Config) bool {
			return c.Username == "demo" && c.Password == "pw" && c.ProjectName == "k8s" && c.UserDomainName == "Default" &&
				c.ProjectDomainID == "default" && c.Region == "RegionOne" && c.EndpointType == "public"
		}},
		{"application credential", map[string]string{
			"OS_AUTH_URL": "https://k/v3", "OS_AUTH_TYPE": "v3applicationcredential",
			"OS_APPLICATION_CREDENTIAL_ID": "ac", "OS_APPLICATION_CREDENTIAL_SECRET": "s", "OS_INSECURE": "true",
		}, func(c *Config) bool {
			return c.ApplicationCredentialID == "ac" && c.ApplicationCredentialSecret == "s" && c.Insecure
		}},
		{"noauth", map[string]string{"OS_AUTH_TYPE": "none", "OS_ENDPOINT": "http://127.0.0.1:8776/v3", "OS_PROJECT_ID": "p"},
			func(c *Config) bool {
				return c.NoAuth && c.Endpoint == "http://127.0.0.1:8776/v3" && c.noAuthProject() == "p"
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clearOSEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			c, err := LoadConfig("", "")
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) || c.Source != "the environment" {
				t.Errorf("%s", jsonOf(t, c))
			}
		})
	}
}

func TestConfigNeverPrintsSecrets(t *testing.T) {
	c := &Config{
		Source: "test", AuthURL: "https://k/v3", Username: "demo", Password: "hunter2-password",
		ApplicationCredentialName: "ac", ApplicationCredentialSecret: "top-secret-value", ProjectName: "p",
	}
	outputs := map[string]string{"String()": c.String(), "GoString()": c.GoString()}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		outputs[verb+" pointer"] = fmt.Sprintf(verb, c)
		outputs[verb+" value"] = fmt.Sprintf(verb, *c)
		outputs[verb+" password"] = fmt.Sprintf(verb, c.Password)
	}
	b, err := json.Marshal(c)
	must(t, err)
	outputs["json"] = string(b)
	for name, out := range outputs {
		for _, secret := range []string{"hunter2", "top-secret", "68756e74657232" /* hex of hunter2 */} {
			if strings.Contains(out, secret) {
				t.Errorf("%s prints a secret: %s", name, out)
			}
		}
	}
	if !strings.Contains(fmt.Sprintf("%+v", *c), "<redacted>") {
		t.Errorf("%%+v does not show that a password is set: %+v", *c)
	}
	if string(c.Password) != "hunter2-password" {
		t.Error("the value itself must stay usable")
	}
}
