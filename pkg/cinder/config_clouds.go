package cinder

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/config/clouds"
	"gopkg.in/yaml.v2"
)

// cloudsYAMLExtras are the clouds.yaml keys gophercloud's parser has no field for:
// what openstacksdk reads for auth_type "none".
type cloudsYAMLExtras struct {
	Clouds map[string]struct {
		Auth struct {
			Endpoint string `yaml:"endpoint"`
		} `yaml:"auth"`
		BlockStorageEndpointOverride string `yaml:"block_storage_endpoint_override"`
	} `yaml:"clouds"`
}

// configFromCloudsYAML picks one cloud out of a clouds.yaml. Keystone clouds go
// through gophercloud's parser (which also merges a secure.yaml beside the file);
// noauth clouds are read directly because the parser has no endpoint field.
func configFromCloudsYAML(path string, data []byte, cloudName string) (*Config, error) {
	var all clouds.Clouds
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&all); err != nil {
		return nil, fmt.Errorf("clouds.yaml %s: %w", path, err)
	}
	name, err := chooseCloud(path, all.Clouds, cloudName)
	if err != nil {
		return nil, err
	}
	raw := all.Clouds[name]
	auth := clouds.AuthInfo{}
	if raw.AuthInfo != nil {
		auth = *raw.AuthInfo
	}
	cfg := &Config{
		Source:         fmt.Sprintf("clouds.yaml %s cloud %q", path, name),
		Region:         raw.RegionName,
		CAFile:         raw.CACertFile,
		Insecure:       raw.Verify != nil && !*raw.Verify,
		ClientCertFile: raw.ClientCertFile,
		ClientKeyFile:  raw.ClientKeyFile,
	}
	keys := keyNames{
		where:   cfg.Source,
		authURL: "auth.auth_url", username: "auth.username", userID: "auth.user_id",
		password: "auth.password", userDomain: "auth.user_domain_name or auth.user_domain_id",
		project:   "auth.project_name or auth.project_id",
		appCredID: "auth.application_credential_id", appCredName: "auth.application_credential_name",
		appCredS: "auth.application_credential_secret", endpoint: "auth.endpoint",
	}

	switch raw.AuthType {
	case "none", "noauth":
		var extras cloudsYAMLExtras
		if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&extras); err != nil {
			return nil, fmt.Errorf("clouds.yaml %s: %w", path, err)
		}
		x := extras.Clouds[name]
		cfg.NoAuth = true
		cfg.Endpoint = firstNonEmpty(x.Auth.Endpoint, x.BlockStorageEndpointOverride)
		cfg.Username, cfg.UserID = auth.Username, auth.UserID
		cfg.ProjectID, cfg.ProjectName = auth.ProjectID, auth.ProjectName
	case "", clouds.AuthPassword, clouds.AuthV3Password, clouds.AuthV3ApplicationCredential:
		if raw.AuthInfo == nil {
			// gophercloud's parser dereferences the missing section.
			return nil, fmt.Errorf("%s has no auth section: give auth.auth_url and a password or an application credential", cfg.Source)
		}
		ao, eo, _, err := clouds.Parse(clouds.WithLocations(path), clouds.WithCloudName(name))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", cfg.Source, err)
		}
		if ao.TokenID != "" {
			return nil, fmt.Errorf("%s: auth.token is not supported because tokens expire; use a password or an application credential", cfg.Source)
		}
		fillFromAuthOptions(cfg, ao, auth)
		// Parse lets OS_REGION_NAME and OS_INTERFACE override the file, like openstackclient.
		cfg.Region, cfg.EndpointType = eo.Region, string(eo.Availability)
	default:
		return nil, fmt.Errorf("%s: auth_type %q is not supported; use password, v3applicationcredential or none", cfg.Source, raw.AuthType)
	}
	if err := cfg.validate(keys); err != nil {
		return nil, err
	}
	return cfg, nil
}

// fillFromAuthOptions copies what gophercloud resolved (secure.yaml merged, domain
// fallbacks applied) into cfg. auth keeps the separate user and project domains,
// which AuthOptions folds together.
func fillFromAuthOptions(cfg *Config, ao gophercloud.AuthOptions, auth clouds.AuthInfo) {
	cfg.AuthURL = ao.IdentityEndpoint
	cfg.Username, cfg.UserID, cfg.Password = ao.Username, ao.UserID, Secret(ao.Password)
	cfg.ProjectName, cfg.ProjectID = ao.TenantName, ao.TenantID
	cfg.DomainName, cfg.DomainID = auth.DomainName, auth.DomainID
	cfg.UserDomainName, cfg.UserDomainID = ao.DomainName, ao.DomainID
	cfg.ProjectDomainName = firstNonEmpty(auth.ProjectDomainName, auth.DomainName)
	cfg.ProjectDomainID = firstNonEmpty(auth.ProjectDomainID, auth.DomainID)
	cfg.ApplicationCredentialID = ao.ApplicationCredentialID
	cfg.ApplicationCredentialName = ao.ApplicationCredentialName
	cfg.ApplicationCredentialSecret = Secret(ao.ApplicationCredentialSecret)
}

// chooseCloud applies the cloud-name defaults: the name asked for, else OS_CLOUD,
// else the only cloud, else "openstack".
func chooseCloud(path string, all map[string]clouds.Cloud, asked string) (string, error) {
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	slices.Sort(names)
	if len(names) == 0 {
		return "", fmt.Errorf("clouds.yaml %s defines no clouds", path)
	}
	name := firstNonEmpty(asked, os.Getenv("OS_CLOUD"))
	if name == "" {
		if len(names) == 1 {
			return names[0], nil
		}
		name = "openstack"
	}
	if _, ok := all[name]; !ok {
		return "", fmt.Errorf("clouds.yaml %s has no cloud named %q; it has: %s", path, name, strings.Join(names, ", "))
	}
	return name, nil
}

// configFromEnv reads the variables an openrc file sets. OS_AUTH_TYPE=none with
// OS_ENDPOINT selects a standalone Cinder, as python-openstackclient does.
func configFromEnv() (*Config, error) {
	env := os.Getenv
	cfg := &Config{
		Source:                      "the environment",
		AuthURL:                     env("OS_AUTH_URL"),
		Username:                    env("OS_USERNAME"),
		UserID:                      firstNonEmpty(env("OS_USER_ID"), env("OS_USERID")),
		Password:                    Secret(env("OS_PASSWORD")),
		ProjectName:                 firstNonEmpty(env("OS_PROJECT_NAME"), env("OS_TENANT_NAME")),
		ProjectID:                   firstNonEmpty(env("OS_PROJECT_ID"), env("OS_TENANT_ID")),
		DomainName:                  env("OS_DOMAIN_NAME"),
		DomainID:                    env("OS_DOMAIN_ID"),
		UserDomainName:              env("OS_USER_DOMAIN_NAME"),
		UserDomainID:                env("OS_USER_DOMAIN_ID"),
		ProjectDomainName:           env("OS_PROJECT_DOMAIN_NAME"),
		ProjectDomainID:             env("OS_PROJECT_DOMAIN_ID"),
		ApplicationCredentialID:     env("OS_APPLICATION_CREDENTIAL_ID"),
		ApplicationCredentialName:   env("OS_APPLICATION_CREDENTIAL_NAME"),
		ApplicationCredentialSecret: Secret(env("OS_APPLICATION_CREDENTIAL_SECRET")),
		Region:                      env("OS_REGION_NAME"),
		EndpointType:                firstNonEmpty(env("OS_INTERFACE"), env("OS_ENDPOINT_TYPE")),
		CAFile:                      env("OS_CACERT"),
		ClientCertFile:              env("OS_CERT"),
		ClientKeyFile:               env("OS_KEY"),
	}
	if v := env("OS_INSECURE"); v != "" {
		insecure, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("the environment: OS_INSECURE=%q is not a boolean", v)
		}
		cfg.Insecure = insecure
	}
	switch t := env("OS_AUTH_TYPE"); t {
	case "none", "noauth":
		cfg.NoAuth, cfg.Endpoint = true, env("OS_ENDPOINT")
	case "", "password", "v3password", "v3applicationcredential":
	default:
		return nil, fmt.Errorf("the environment: OS_AUTH_TYPE %q is not supported; use password, v3applicationcredential or none", t)
	}
	keys := keyNames{
		where:   cfg.Source,
		authURL: "OS_AUTH_URL", username: "OS_USERNAME", userID: "OS_USER_ID", password: "OS_PASSWORD",
		userDomain: "OS_USER_DOMAIN_NAME or OS_USER_DOMAIN_ID", project: "OS_PROJECT_NAME or OS_PROJECT_ID",
		appCredID: "OS_APPLICATION_CREDENTIAL_ID", appCredName: "OS_APPLICATION_CREDENTIAL_NAME",
		appCredS: "OS_APPLICATION_CREDENTIAL_SECRET", endpoint: "OS_ENDPOINT",
	}
	if err := cfg.validate(keys); err != nil {
		return nil, err
	}
	return cfg, nil
}
