// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// The admin commands (apps, iam, audit, quotas) talk to Custos's own admin
// API under /admin/v1/, a plain REST/JSON API whose errors use the same
// google.rpc.Status envelope as the Cloud KMS paths. Its bodies are not
// kmspb messages, so these helpers send JSON encoded with encoding/json
// rather than protojson; everything else (authentication, error decoding,
// size limits) is the client's.

// adminCall sends one admin API call and returns its JSON answer. body,
// if not nil, is encoded with encoding/json; a POST or PUT without body
// sends "{}".
func (c *client) adminCall(ctx context.Context, method, path string, q url.Values, body any) ([]byte, error) {
	var b []byte
	switch {
	case body != nil:
		var err error
		if b, err = json.Marshal(body); err != nil {
			return nil, fmt.Errorf("encoding the request: %w", err)
		}
	case method == http.MethodPost || method == http.MethodPut:
		b = []byte("{}")
	}
	return c.exchange(ctx, method, path, q, b)
}

// adminList calls GET path and returns the elements of the array field of
// the answer (the admin API's lists come whole, in one answer).
func (c *client) adminList(ctx context.Context, path, field string, q url.Values) ([]json.RawMessage, error) {
	data, err := c.adminCall(ctx, http.MethodGet, path, q, nil)
	if err != nil {
		return nil, err
	}
	var page map[string]json.RawMessage
	if err := json.Unmarshal(data, &page); err != nil {
		return nil, fmt.Errorf("decoding the server's answer: %w", err)
	}
	items := []json.RawMessage{}
	if raw, ok := page[field]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, fmt.Errorf("decoding the server's answer: field %q: %w", field, err)
		}
	}
	return items, nil
}

// decodeJSON decodes an answer of the admin API into v.
func decodeJSON(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decoding the server's answer: %w", err)
	}
	return nil
}

// formatTimeString formats a JSON timestamp of the admin API for a person,
// as formatTime does: RFC 3339 in UTC, to the second. Anything else is
// shown as it is.
func formatTimeString(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s
	}
	return t.UTC().Format(time.RFC3339)
}

// appNameRE is the syntax of app names, as the server defines it: 1 to 63
// characters of a-z, 0-9 and '-', starting with a letter. Checking it here
// also keeps a name from changing the path of a request.
var appNameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)

// checkAppName returns a usage error unless s is a valid app name.
func checkAppName(s string) error {
	if !appNameRE.MatchString(s) {
		return usageErrorf("%q is not a valid app name: 1 to 63 characters of a-z, 0-9 and '-', starting with a letter", s)
	}
	return nil
}

// projectName parses "projects/P" and returns it, or "" if s is not one.
func projectName(s string) string {
	id, ok := strings.CutPrefix(s, "projects/")
	if !ok || !projectIDRE.MatchString(id) {
		return ""
	}
	return s
}

// importJobRE matches an import job name, which parseName does not know.
var importJobRE = regexp.MustCompile(`^projects/[a-zA-Z0-9._-]{1,100}/locations/[a-zA-Z0-9._-]{1,100}/keyRings/[a-zA-Z0-9_-]{1,63}/importJobs/[a-zA-Z0-9_-]{1,63}$`)

// parseResource checks that s is the name of a project or of one of the
// kinds of Cloud KMS resources given, and returns it. what describes the
// accepted names for the error.
func parseResource(s, what string, kinds ...kind) (string, error) {
	if p := projectName(s); p != "" {
		return p, nil
	}
	if n, why := parseName(s); why == "" {
		for _, k := range kinds {
			if n.kind == k {
				return n.String(), nil
			}
		}
	}
	return "", usageErrorf("%q is not %s", s, what)
}
