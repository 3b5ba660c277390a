// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
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

// adminRequest sends one request to the server and returns the response
// when its status is 2xx; the caller closes its body. body is sent as is
// with Content-Type application/json, or no body when nil. A non-2xx answer
// becomes an [*APIError].
func (c *client) adminRequest(ctx context.Context, method, path string, q url.Values, body []byte) (*http.Response, error) {
	u := *c.base
	u.Path = strings.TrimSuffix(c.base.Path, "/") + path
	u.RawPath = ""
	u.RawQuery = q.Encode()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("building the request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, &transportError{addr: c.base.String(), err: err}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
		if err != nil {
			return nil, &transportError{addr: c.base.String(), err: err}
		}
		return nil, decodeError(resp.StatusCode, data)
	}
	return resp, nil
}

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
	return c.adminCallRaw(ctx, method, path, q, b)
}

// adminCallRaw is adminCall with a body already encoded (nil for none).
func (c *client) adminCallRaw(ctx context.Context, method, path string, q url.Values, body []byte) ([]byte, error) {
	resp, err := c.adminRequest(ctx, method, path, q, body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, &transportError{addr: c.base.String(), err: err}
	}
	if len(data) > maxResponseBytes {
		return nil, fmt.Errorf("the response to %s %s is larger than %d bytes", method, path, maxResponseBytes)
	}
	// The admin API ends its answers with a newline; printJSON adds its own.
	data = bytes.TrimSpace(data)
	if !json.Valid(data) {
		return nil, fmt.Errorf("the server answered %s %s with a body that is not JSON", method, path)
	}
	return data, nil
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
