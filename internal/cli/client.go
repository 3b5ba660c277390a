// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// maxResponseBytes bounds a response body. Cloud KMS payloads are at most
// 64 KiB, so a list page is the largest answer and stays far below this.
const maxResponseBytes = 32 << 20

// client is a small client for the Custos Cloud KMS v1 REST API. It sends
// proto3 JSON bodies, authenticates with a bearer token and turns the
// {"error": {...}} envelope into an [*APIError]. It is safe for concurrent
// use.
type client struct {
	base      *url.URL // scheme, host and optional path prefix
	token     string   // secret: sent only in the Authorization header
	http      *http.Client
	userAgent string
}

// newClient returns a client for the server at base. caFile, if not empty,
// names a PEM bundle that replaces the system roots for https.
func newClient(base *url.URL, token, caFile string) (*client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = http.ProxyFromEnvironment
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("reading the CA bundle: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no PEM certificate found in CA bundle %s", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &client{
		base:  base,
		token: token,
		http: &http.Client{
			Transport: tr,
			// The API never redirects. Following one would send the
			// request again, its body (a plaintext to encrypt) included,
			// wherever it points: net/http keeps the Authorization header
			// on the same host even from https to http.
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				return fmt.Errorf("the server redirected to %s; custos does not follow redirects (check --addr)", req.URL.Redacted())
			},
		},
		userAgent: "custos-cli/" + cliVersion(),
	}, nil
}

// APIError is an error answered by the server: the HTTP status and the
// decoded google.rpc.Status envelope.
type APIError struct {
	HTTPStatus int    // the HTTP status code of the response
	Status     string // the canonical code name, e.g. "NOT_FOUND"
	Message    string // the server's message, safe to show
}

// Error returns the server's message followed by the status name.
func (e *APIError) Error() string {
	if e.Message == "" {
		return e.Status
	}
	return fmt.Sprintf("%s (%s)", e.Message, e.Status)
}

// get sends a GET request for path with the query q and returns the body.
func (c *client) get(ctx context.Context, path string, q url.Values) ([]byte, error) {
	return c.do(ctx, http.MethodGet, path, q, nil)
}

// post sends body (nil for "{}") to path with the query q and returns the
// response body.
func (c *client) post(ctx context.Context, path string, q url.Values, body proto.Message) ([]byte, error) {
	return c.do(ctx, http.MethodPost, path, q, body)
}

// call posts req to path and decodes the answer into resp. It returns the
// raw answer too, for --output json (which prints the server's object as
// received, Custos extension fields included).
func (c *client) call(ctx context.Context, path string, req, resp proto.Message) ([]byte, error) {
	body, err := c.post(ctx, path, nil, req)
	if err != nil {
		return nil, err
	}
	return body, unmarshal(body, resp)
}

// patch sends body to path with the query q and returns the response body.
func (c *client) patch(ctx context.Context, path string, q url.Values, body proto.Message) ([]byte, error) {
	return c.do(ctx, http.MethodPatch, path, q, body)
}

// do sends one request with body encoded as proto3 JSON ("{}" for none;
// no body on GET). path is the REST path below the base URL, such as
// "/v1/projects/p/locations/l/keyRings". A non-2xx response becomes an
// [*APIError]; a transport failure is returned wrapped.
func (c *client) do(ctx context.Context, method, path string, q url.Values, body proto.Message) ([]byte, error) {
	var b []byte
	if method != http.MethodGet {
		b = []byte("{}")
		if body != nil {
			var err error
			if b, err = protojson.Marshal(body); err != nil {
				return nil, fmt.Errorf("encoding the request: %w", err)
			}
		}
	}
	return c.exchange(ctx, method, path, q, b)
}

// request sends one request to the server and returns the response
// when its status is 2xx; the caller closes its body. body is sent as is
// with Content-Type application/json, or no body when nil. A non-2xx answer
// becomes an [*APIError].
func (c *client) request(ctx context.Context, method, path string, q url.Values, body []byte) (*http.Response, error) {
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

// exchange sends one request with a body already encoded (nil for none)
// and returns the JSON answer of a 2xx status, within maxResponseBytes.
func (c *client) exchange(ctx context.Context, method, path string, q url.Values, body []byte) ([]byte, error) {
	resp, err := c.request(ctx, method, path, q, body)
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
	// Every answer of the REST and admin APIs is one JSON object; printing
	// anything else with --output json would break the one-object contract.
	data = bytes.TrimSpace(data)
	if !json.Valid(data) || data[0] != '{' {
		return nil, fmt.Errorf("the server answered %s %s with a body that is not a JSON object", method, path)
	}
	return data, nil
}

// transportError is a failure to reach the server or read its answer.
type transportError struct {
	addr string
	err  error
}

func (e *transportError) Error() string {
	var ue *url.Error
	if errors.As(e.err, &ue) {
		// url.Error repeats the method and the whole URL; keep the cause.
		return fmt.Sprintf("cannot reach the server at %s: %v", e.addr, ue.Err)
	}
	return fmt.Sprintf("cannot reach the server at %s: %v", e.addr, e.err)
}

func (e *transportError) Unwrap() error { return e.err }

// decodeError turns an error response into an [*APIError]. It accepts the
// google.rpc.Status envelope {"error":{"code","message","status"}} and falls
// back on the HTTP status for any other body.
func decodeError(httpStatus int, body []byte) *APIError {
	var env struct {
		Error *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Status  string `json:"status"`
		} `json:"error"`
	}
	e := &APIError{HTTPStatus: httpStatus}
	if err := json.Unmarshal(body, &env); err == nil && env.Error != nil {
		e.Message = env.Error.Message
		e.Status = env.Error.Status
	} else {
		e.Message = snippet(body)
	}
	if e.Status == "" {
		e.Status = statusForHTTP(httpStatus)
	}
	if e.Message == "" {
		e.Message = strings.ToLower(http.StatusText(httpStatus))
	}
	return e
}

// statusForHTTP maps an HTTP status to the canonical code name, following
// the table in google/rpc/code.proto.
func statusForHTTP(code int) string {
	switch code {
	case http.StatusBadRequest:
		return "INVALID_ARGUMENT"
	case http.StatusUnauthorized:
		return "UNAUTHENTICATED"
	case http.StatusForbidden:
		return "PERMISSION_DENIED"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusConflict:
		return "ABORTED"
	case http.StatusPreconditionFailed:
		return "FAILED_PRECONDITION"
	case http.StatusRequestedRangeNotSatisfiable:
		return "OUT_OF_RANGE"
	case http.StatusTooManyRequests:
		return "RESOURCE_EXHAUSTED"
	case 499:
		return "CANCELLED"
	case http.StatusNotImplemented:
		return "UNIMPLEMENTED"
	case http.StatusServiceUnavailable:
		return "UNAVAILABLE"
	case http.StatusGatewayTimeout:
		return "DEADLINE_EXCEEDED"
	}
	if code >= 500 {
		return "INTERNAL"
	}
	return "UNKNOWN"
}

// snippet returns the start of a non-envelope error body as printable text,
// so that a proxy's HTML page doesn't flood the terminal.
func snippet(body []byte) string {
	const limit = 200
	s := strings.TrimSpace(string(body))
	if !utf8.ValidString(s) {
		return ""
	}
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > limit {
		s = s[:limit] + "..."
	}
	return s
}

// isLoopback reports whether host names the local machine.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// unmarshal decodes a response body into m, ignoring fields that kmspb
// doesn't know (Custos extension fields).
func unmarshal(data []byte, m proto.Message) error {
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(data, m); err != nil {
		return fmt.Errorf("decoding the server's answer: %w", err)
	}
	return nil
}

// printList lists the elements of field at path, every page, and prints
// them: the whole array with --output json; otherwise a table of header
// with one row made by row from each element, or the note none (to stderr)
// when there are none.
func printList[T any, M interface {
	*T
	proto.Message
}](ctx context.Context, g *globals, c *client, path, field string, q url.Values, none string, header []string, row func(M) []string) error {
	items, err := c.list(ctx, path, field, q)
	if err != nil {
		return err
	}
	if g.json() {
		return printJSONArray(g.stdout, items)
	}
	if len(items) == 0 {
		notef(g.stderr, "%s", none)
		return nil
	}
	rows := make([][]string, 0, len(items))
	for _, raw := range items {
		m := M(new(T))
		if err := unmarshal(raw, m); err != nil {
			return err
		}
		rows = append(rows, row(m))
	}
	return printTable(g.stdout, header, rows)
}

// list fetches every page of a list method at path and returns the elements
// of field (e.g. "keyRings") from all pages, in order.
func (c *client) list(ctx context.Context, path, field string, q url.Values) ([]json.RawMessage, error) {
	var all []json.RawMessage
	seen := map[string]bool{}
	for {
		data, err := c.get(ctx, path, q)
		if err != nil {
			return nil, err
		}
		var page map[string]json.RawMessage
		if err := json.Unmarshal(data, &page); err != nil {
			return nil, fmt.Errorf("decoding the server's answer: %w", err)
		}
		if raw, ok := page[field]; ok {
			var items []json.RawMessage
			if err := json.Unmarshal(raw, &items); err != nil {
				return nil, fmt.Errorf("decoding the server's answer: field %q: %w", field, err)
			}
			all = append(all, items...)
		}
		var next string
		if raw, ok := page["nextPageToken"]; ok {
			if err := json.Unmarshal(raw, &next); err != nil {
				return nil, fmt.Errorf("decoding the server's answer: nextPageToken: %w", err)
			}
		}
		if next == "" {
			return all, nil
		}
		if seen[next] {
			return nil, fmt.Errorf("the server repeated page token %q", next)
		}
		seen[next] = true
		q = cloneValues(q)
		q.Set("pageToken", next)
	}
}

func cloneValues(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = append([]string(nil), v...)
	}
	return out
}
