// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// testToken is the bearer token the fake server expects.
const testToken = "test-token"

// request is one request seen by the fake server.
type request struct {
	Method string
	Path   string
	Query  url.Values
	Body   map[string]any // the decoded JSON body, nil for none
	Auth   string
}

// reply is what a route answers.
type reply struct {
	status int
	body   string
}

// fakeServer is an httptest server that records every request and answers
// from a route table keyed by "METHOD /path".
type fakeServer struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	reqs   []request
	routes map[string]func(request) reply
}

func newFakeServer(t *testing.T, routes map[string]func(request) reply) *fakeServer {
	t.Helper()
	f := &fakeServer{t: t, routes: routes}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeServer) serve(w http.ResponseWriter, r *http.Request) {
	data, _ := io.ReadAll(r.Body)
	req := request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Auth: r.Header.Get("Authorization")}
	if len(data) > 0 {
		if err := json.Unmarshal(data, &req.Body); err != nil {
			f.t.Errorf("%s %s: body is not a JSON object: %q", r.Method, r.URL.Path, data)
		}
	}
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	route, ok := f.routes[r.Method+" "+r.URL.Path]
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"error":{"code":404,"message":"no route `+r.Method+" "+r.URL.Path+`","status":"NOT_FOUND"}}`)
		return
	}
	rep := route(req)
	if rep.status == 0 {
		rep.status = http.StatusOK
	}
	w.WriteHeader(rep.status)
	io.WriteString(w, rep.body)
}

// requests returns the requests seen so far.
func (f *fakeServer) requests() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.reqs...)
}

// last returns the last request, failing the test if there is none.
func (f *fakeServer) last() request {
	f.t.Helper()
	reqs := f.requests()
	if len(reqs) == 0 {
		f.t.Fatal("the server saw no request")
	}
	return reqs[len(reqs)-1]
}

// ok returns a route answering 200 with body.
func ok(body string) func(request) reply {
	return func(request) reply { return reply{body: body} }
}

// result is the outcome of one CLI run.
type result struct {
	stdout, stderr string
	code           int
}

// runCLI runs the CLI in process with CUSTOS_ADDR pointing at addr (if not
// empty), CUSTOS_TOKEN set to testToken, and stdin.
func runCLI(t *testing.T, addr, stdin string, args ...string) result {
	t.Helper()
	env := map[string]string{envToken: testToken}
	if addr != "" {
		env[envAddr] = addr
	}
	return runEnv(t, env, stdin, args...)
}

// runEnv runs the CLI in process with exactly the environment env.
func runEnv(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	lookup := func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
	code := run(args, strings.NewReader(stdin), &stdout, &stderr, lookup)
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// mustSucceed fails the test unless r exited 0.
func (r result) mustSucceed(t *testing.T) result {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit %d, want 0; stderr:\n%s", r.code, r.stderr)
	}
	return r
}
