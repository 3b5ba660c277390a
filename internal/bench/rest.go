// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// echoSizeHeader asks the bare HTTP echo for an answer of that many bytes:
// the size of Custos's answer to the same request, so that the ceiling
// moves as many bytes.
const echoSizeHeader = "X-Bench-Echo-Size"

// newHTTPClient returns a keep-alive HTTP/1.1 client that keeps up to
// conns idle connections to one host, so that conns workers each keep
// their own connection open.
func newHTTPClient(conns int) *http.Client {
	tr := &http.Transport{
		Proxy:               nil, // loopback only
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &http.Client{Transport: tr}
}

// restTarget is where REST requests go: Custos or the bare echo.
type restTarget struct {
	base   string // http://host:port
	client *http.Client
	// echo, if not 0, is sent in echoSizeHeader: the size of the answer the
	// bare echo is to send.
	echo int
}

// restCall is one REST request of a workload.
type restCall struct {
	method string
	path   string        // with the query, e.g. /v1/...:encrypt
	pathFn func() string // instead of path, for a new name per request
	body   []byte
	token  string
	want   []byte // a field the answer must hold; nil for any 2xx answer
}

// op returns a worker's Op sending c to t. Each Op keeps its own answer
// buffer and header.
func (c restCall) op(t *restTarget) Op {
	h := http.Header{}
	h.Set("Authorization", "Bearer "+c.token)
	h.Set("Accept", "application/json")
	if c.body != nil {
		h.Set("Content-Type", "application/json")
	}
	if t.echo > 0 {
		h.Set(echoSizeHeader, strconv.Itoa(t.echo))
	}
	var buf bytes.Buffer
	url := t.base + c.path
	return func(ctx context.Context) error {
		u := url
		if c.pathFn != nil {
			u = t.base + c.pathFn()
		}
		var body io.Reader
		if c.body != nil {
			body = bytes.NewReader(c.body)
		}
		req, err := http.NewRequestWithContext(ctx, c.method, u, body)
		if err != nil {
			return err
		}
		req.Header = h
		resp, err := t.client.Do(req)
		if err != nil {
			return err
		}
		buf.Reset()
		_, err = buf.ReadFrom(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return &errStatus{code: resp.StatusCode, body: snippet(buf.Bytes())}
		}
		if c.want != nil && !bytes.Contains(buf.Bytes(), c.want) {
			return errCheck
		}
		return nil
	}
}

// snippet returns the start of an error answer.
func snippet(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// apiClient makes the setup calls: JSON in, JSON out, errors with the
// server's message. It is not used on measured paths.
type apiClient struct {
	base   string
	token  string
	client *http.Client
}

// APIError is an error answer of the server during setup.
type APIError struct {
	Method, Path string
	Status       int
	Body         string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s %s: HTTP %d: %s", e.Method, e.Path, e.Status, e.Body)
}

// call sends in (nil for no body; a []byte as is; anything else as JSON)
// and decodes the answer into out (nil to discard). It returns the answer's
// size.
func (a *apiClient) call(ctx context.Context, method, path string, in, out any) (int, error) {
	var body io.Reader
	switch v := in.(type) {
	case nil:
	case []byte:
		body = bytes.NewReader(v)
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, body)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return len(data), &APIError{Method: method, Path: path, Status: resp.StatusCode, Body: snippet(data)}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return len(data), fmt.Errorf("%s %s: decoding the answer: %w", method, path, err)
		}
	}
	return len(data), nil
}
