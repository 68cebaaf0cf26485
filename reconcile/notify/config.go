package notify

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// Provider types.
const (
	TypeWebhook = "webhook"
	TypeSlack   = "slack"
)

// Config is the notification configuration of `serve --notify-config`:
// a YAML file, meant to be mounted from a Secret since provider URLs
// (Slack's above all) are credentials.
//
//	providers:
//	- name: ops
//	  type: slack
//	  url: https://hooks.slack.com/services/T000/B000/XXXX
//	  events: [failed, recovered]
//	  clusters: [prod]
//	- name: audit
//	  type: webhook
//	  url: https://hooks.example.com/trellis
//	  headers: {Authorization: Bearer abc}
type Config struct {
	Providers []Provider `json:"providers"`
}

// Provider is one receiver.
type Provider struct {
	// Name identifies it in logs and metrics; unique.
	Name string `json:"name"`
	// Type is webhook (the Event as JSON) or slack (a Slack incoming
	// webhook message).
	Type string `json:"type"`
	// URL receives a POST per event: https, or http to a loopback host.
	// It is never logged.
	URL string `json:"url"`
	// Headers are sent with every request (an Authorization header, say);
	// never logged.
	Headers map[string]string `json:"headers,omitempty"`
	// Events are the kinds sent (default: all of Kinds).
	Events []string `json:"events,omitempty"`
	// Clusters are the clusters whose events are sent (default: all).
	Clusters []string `json:"clusters,omitempty"`
	// PerMinute is the most events sent a minute (default 60); more wait
	// their turn.
	PerMinute int `json:"perMinute,omitempty"`
}

// LoadConfig reads and checks the configuration file at path. Unknown
// fields are errors.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("notify config: %w", err)
	}
	var c Config
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		return Config{}, fmt.Errorf("notify config %s: %w", path, err)
	}
	if err := c.check(); err != nil {
		return Config{}, fmt.Errorf("notify config %s: %w", path, err)
	}
	return c, nil
}

// check refuses what cannot be sent: no name, an unknown type or event,
// a URL that is neither https nor loopback http. Messages never hold a
// URL, which may be a credential.
func (c Config) check() error {
	var errs []error
	seen := map[string]bool{}
	for i, p := range c.Providers {
		at := fmt.Sprintf("providers[%d]", i)
		if p.Name == "" {
			errs = append(errs, fmt.Errorf("%s.name: required", at))
		} else if seen[p.Name] {
			errs = append(errs, fmt.Errorf("%s.name: %q is used twice", at, p.Name))
		}
		seen[p.Name] = true
		if p.Type != TypeWebhook && p.Type != TypeSlack {
			errs = append(errs, fmt.Errorf("%s.type: %q: want %s or %s", at, p.Type, TypeWebhook, TypeSlack))
		}
		if err := checkURL(p.URL); err != nil {
			errs = append(errs, fmt.Errorf("%s.url: %w", at, err))
		}
		for j, e := range p.Events {
			if !slices.Contains(Kinds, e) {
				errs = append(errs, fmt.Errorf("%s.events[%d]: %q: want one of %s", at, j, e, strings.Join(Kinds, ", ")))
			}
		}
		if p.PerMinute < 0 {
			errs = append(errs, fmt.Errorf("%s.perMinute: must not be negative", at))
		}
	}
	return errors.Join(errs...)
}

func checkURL(raw string) error {
	if raw == "" {
		return errors.New("required")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return errors.New("not a URL")
	}
	switch {
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	}
	return errors.New("must be https (http only to a loopback host)")
}

func isLoopback(host string) bool {
	return host == "localhost" || strings.HasPrefix(host, "127.") || host == "::1"
}

// wants reports whether p sends e.
func (p Provider) wants(e Event) bool {
	return (len(p.Events) == 0 || slices.Contains(p.Events, e.Kind)) &&
		(len(p.Clusters) == 0 || slices.Contains(p.Clusters, e.Cluster))
}
