package cinder

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/ini.v1"
	"k8s.io/klog/v2"
)

// configFromINI reads cloud-provider-openstack's cloud.conf, so that an existing
// secret can be mounted as is. Section and key names are case-insensitive, as in
// the gcfg format it was written for.
func configFromINI(path string, data []byte) (*Config, error) {
	where := "cloud.conf " + path
	f, err := ini.LoadSources(ini.LoadOptions{
		Insensitive: true,
		// A password may contain '#' or ';': only treat them as a comment after a space.
		SpaceBeforeInlineComment: true,
	}, data)
	if err != nil {
		// go-ini quotes the line it could not parse, which may be a password.
		return nil, fmt.Errorf("%s: not a valid INI file%s (the line is not shown: it may hold a secret)", where, badINILine(data))
	}
	cfg := &Config{Source: where}
	var useClouds bool
	var cloudsFile, cloudName string

	for _, sec := range f.Sections() {
		switch sec.Name() {
		case "global":
			for _, k := range sec.Keys() {
				switch k.Name() {
				case "use-clouds":
					if useClouds, err = parseBool(where, "Global", k); err != nil {
						return nil, err
					}
				case "clouds-file":
					cloudsFile = k.String()
				case "cloud":
					cloudName = k.String()
				default:
					if err := setGlobal(cfg, where, k); err != nil {
						return nil, err
					}
				}
			}
		case "blockstorage":
			if err := setBlockStorage(&cfg.BlockStorageOptions, where, sec); err != nil {
				return nil, err
			}
		case "metadata":
			for _, k := range sec.Keys() {
				if k.Name() != "search-order" {
					warnUnknownKey(where, "Metadata", k.Name())
					continue
				}
				for _, s := range strings.Split(k.String(), ",") {
					if s = strings.TrimSpace(s); s != "" {
						cfg.MetadataSearchOrder = append(cfg.MetadataSearchOrder, s)
					}
				}
			}
		case ini.DefaultSection:
			for _, k := range sec.Keys() {
				warnUnknownKey(where, "", k.Name())
			}
		default:
			// A cloud.conf shared with the cloud controller manager has [LoadBalancer],
			// [Networking], ...: harmless here.
			klog.InfoS("Ignoring a cloud.conf section the Cinder CSI driver does not use", "file", path, "section", sec.Name())
		}
	}

	if useClouds {
		return cloudsFromINI(cfg, firstNonEmpty(cloudsFile, "/etc/openstack/clouds.yaml"), cloudName)
	}
	err = cfg.validate(keyNames{
		where:   where + " [Global]",
		authURL: "auth-url", username: "username", userID: "user-id", password: "password",
		userDomain: "user-domain-name or user-domain-id", project: "project-name (tenant-name) or project-id (tenant-id)",
		appCredID: "application-credential-id", appCredName: "application-credential-name",
		appCredS: "application-credential-secret", endpoint: "endpoint",
	})
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// setGlobal sets one [Global] key. Aliases follow cloud-provider-openstack
// (tenant-* for project-*, os-endpoint-type for endpoint-type).
func setGlobal(cfg *Config, where string, k *ini.Key) error {
	strs := map[string]*string{
		"auth-url": &cfg.AuthURL, "username": &cfg.Username, "user-id": &cfg.UserID,
		"tenant-name": &cfg.ProjectName, "project-name": &cfg.ProjectName,
		"tenant-id": &cfg.ProjectID, "project-id": &cfg.ProjectID,
		"domain-name": &cfg.DomainName, "domain-id": &cfg.DomainID,
		"user-domain-name": &cfg.UserDomainName, "user-domain-id": &cfg.UserDomainID,
		"project-domain-name": &cfg.ProjectDomainName, "project-domain-id": &cfg.ProjectDomainID,
		"tenant-domain-name": &cfg.ProjectDomainName, "tenant-domain-id": &cfg.ProjectDomainID,
		"region":                      &cfg.Region,
		"application-credential-id":   &cfg.ApplicationCredentialID,
		"application-credential-name": &cfg.ApplicationCredentialName,
		"ca-file":                     &cfg.CAFile, "cert-file": &cfg.ClientCertFile, "key-file": &cfg.ClientKeyFile,
		"endpoint-type": &cfg.EndpointType, "os-endpoint-type": &cfg.EndpointType,
	}
	secrets := map[string]*Secret{
		"password":                      &cfg.Password,
		"application-credential-secret": &cfg.ApplicationCredentialSecret,
	}
	name := k.Name()
	if p, ok := strs[name]; ok {
		*p = k.String()
		return nil
	}
	if p, ok := secrets[name]; ok {
		*p = Secret(k.String())
		return nil
	}
	if name == "tls-insecure" {
		v, err := parseBool(where, "Global", k)
		cfg.Insecure = v
		return err
	}
	warnUnknownKey(where, "Global", name)
	return nil
}

func setBlockStorage(bs *BlockStorageOptions, where string, sec *ini.Section) error {
	for _, k := range sec.Keys() {
		var err error
		switch k.Name() {
		case "node-volume-attach-limit":
			bs.NodeVolumeAttachLimit, err = strconv.Atoi(strings.TrimSpace(k.String()))
			if err != nil || bs.NodeVolumeAttachLimit < 0 {
				return fmt.Errorf("%s [BlockStorage] node-volume-attach-limit %q is not a non-negative integer", where, k.String())
			}
		case "rescan-on-resize":
			bs.RescanOnResize, err = parseBool(where, "BlockStorage", k)
		case "ignore-volume-az":
			bs.IgnoreVolumeAZ, err = parseBool(where, "BlockStorage", k)
		default:
			warnUnknownKey(where, "BlockStorage", k.Name())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// cloudsFromINI follows [Global] use-clouds to a clouds.yaml, keeping the
// cloud.conf's block-storage and metadata settings.
func cloudsFromINI(ini *Config, path, cloudName string) (*Config, error) {
	cfg, err := LoadConfig(path, cloudName)
	if err != nil {
		return nil, fmt.Errorf("%s [Global] use-clouds: %w", ini.Source, err)
	}
	cfg.BlockStorageOptions = ini.BlockStorageOptions
	cfg.MetadataSearchOrder = ini.MetadataSearchOrder
	return cfg, nil
}

func parseBool(where, section string, k *ini.Key) (bool, error) {
	// ini's Bool accepts what gcfg did: true/false, yes/no, on/off, 1/0.
	v, err := k.Bool()
	if err != nil {
		return false, fmt.Errorf("%s [%s] %s %q is not a boolean (true or false)", where, section, k.Name(), k.String())
	}
	return v, nil
}

// warnUnknownKey logs at warning level (klog has no structured warning call): a
// misspelt key is the likeliest reason a setting has no effect.
func warnUnknownKey(where, section, key string) {
	klog.Warningf("%s: ignoring unknown key %q in section [%s]", where, key, section)
}

// badINILine names the first line that is neither blank, a comment, a [section] nor a
// key = value pair, for an error that must not quote it.
func badINILine(data []byte) string {
	for i, line := range strings.Split(string(data), "\n") {
		l := strings.TrimSpace(line)
		switch {
		case l == "", strings.HasPrefix(l, "#"), strings.HasPrefix(l, ";"):
		case strings.HasPrefix(l, "["):
			if !strings.HasSuffix(l, "]") {
				return fmt.Sprintf(": line %d opens a section without closing it", i+1)
			}
		case !strings.ContainsAny(l, "=:"):
			return fmt.Sprintf(": line %d is not key = value", i+1)
		}
	}
	return ""
}
