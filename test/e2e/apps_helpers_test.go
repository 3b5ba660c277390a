// SPDX-License-Identifier: Apache-2.0

package e2e

// Helpers of the identity, authorization, audit and quota tests: apps and
// their credentials through the admin API, official clients that call as
// an app, raw HTTP calls that keep the answer's headers and the client's
// address, the audit log, and a small CA for TLS and mutual TLS.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	kms "cloud.google.com/go/kms/apiv1"
	"golang.org/x/oauth2"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// httpAnswer is the answer to one raw HTTP request.
type httpAnswer struct {
	status int
	header http.Header
	body   []byte
	// local is the client's end of the connection, which the server
	// sees as the client address.
	local string
}

// object decodes the body as a JSON object, failing the test if it is not
// one.
func (a httpAnswer) object(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(a.body, &m); err != nil {
		t.Fatalf("answer %d is not a JSON object (%v): %q", a.status, err, a.body)
	}
	return m
}

// errorStatus returns error.status of Google's JSON error envelope, or "".
func (a httpAnswer) errorStatus() string {
	var env struct {
		Error struct {
			Status string `json:"status"`
		} `json:"error"`
	}
	_ = json.Unmarshal(a.body, &env)
	return env.Error.Status
}

// httpTarget is where raw HTTP requests go: a base URL and the client that
// reaches it (with the trust and client certificate of a TLS server).
type httpTarget struct {
	base   string // http://host:port or https://host:port
	client *http.Client
}

// plainTarget is the REST listener of a server without TLS.
func (s *server) plainTarget() httpTarget {
	return httpTarget{base: "http://" + s.restAddr, client: &http.Client{Timeout: 30 * time.Second}}
}

// call sends one request with a bearer token ("" for none) and a JSON body
// ("" for none), and returns the answer.
func (h httpTarget) call(t *testing.T, method, path, body, token string) httpAnswer {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	var local string
	ctx := httptrace.WithClientTrace(testContext(t), &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) { local = info.Conn.LocalAddr().String() },
	})
	req, err := http.NewRequestWithContext(ctx, method, h.base+path, r)
	if err != nil {
		t.Fatalf("http.NewRequest(%s %s) = %v", method, path, err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s = %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	return httpAnswer{status: resp.StatusCode, header: resp.Header, body: b, local: local}
}

// admin calls the admin API (or any REST route) as the built-in admin and
// fails the test unless the answer is 200 with a JSON object.
func (h httpTarget) admin(t *testing.T, token, method, path, body string) map[string]any {
	t.Helper()
	a := h.call(t, method, path, body, token)
	if a.status != http.StatusOK {
		t.Fatalf("%s %s %s = %d %s, want 200", method, path, body, a.status, a.body)
	}
	return a.object(t)
}

// adminJSON is admin on the plain REST listener of s with its admin token.
func (s *server) adminJSON(t *testing.T, method, path, body string) map[string]any {
	t.Helper()
	return s.plainTarget().admin(t, s.token, method, path, body)
}

// jsonQuote quotes s as a JSON string.
func jsonQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// mustCreateApp creates an app with a home project ("" for none).
func (h httpTarget) mustCreateApp(t *testing.T, token, name, project string) {
	t.Helper()
	h.admin(t, token, "POST", "/admin/v1/apps", fmt.Sprintf(`{"name":%s,"project":%s}`, jsonQuote(name), jsonQuote(project)))
}

// mustAPIKey creates an API key for app and returns its id and the key.
func (h httpTarget) mustAPIKey(t *testing.T, token, app string) (keyID, key string) {
	t.Helper()
	m := h.admin(t, token, "POST", "/admin/v1/apps/"+app+"/keys", `{"format":"api-key"}`)
	keyID, _ = m["keyId"].(string)
	key, _ = m["apiKey"].(string)
	if keyID == "" || key == "" || m["app"] != app {
		t.Fatalf("POST /admin/v1/apps/%s/keys {api-key} = %v, want {app, keyId, apiKey}", app, m)
	}
	return keyID, key
}

// mustKeyFile creates a service-account key file (format google-json) for
// app and returns it as the server sent it.
func (h httpTarget) mustKeyFile(t *testing.T, token, app string) []byte {
	t.Helper()
	a := h.call(t, "POST", "/admin/v1/apps/"+app+"/keys", `{"format":"google-json"}`, token)
	if a.status != http.StatusOK {
		t.Fatalf("POST /admin/v1/apps/%s/keys {google-json} = %d %s, want 200", app, a.status, a.body)
	}
	return a.body
}

// mustRevoke revokes a credential of app.
func (h httpTarget) mustRevoke(t *testing.T, token, app, keyID string) {
	t.Helper()
	h.admin(t, token, "POST", "/admin/v1/apps/"+app+"/keys/"+keyID+":revoke", "")
}

// mustSetPolicy replaces the IAM policy of a project, key ring or key with
// bindings (role → members) through the admin API.
func (h httpTarget) mustSetPolicy(t *testing.T, token, resource string, bindings map[string][]string) {
	t.Helper()
	type binding struct {
		Role    string   `json:"role"`
		Members []string `json:"members"`
	}
	var p struct {
		Bindings []binding `json:"bindings"`
	}
	for role, members := range bindings {
		p.Bindings = append(p.Bindings, binding{role, members})
	}
	b, _ := json.Marshal(p)
	h.admin(t, token, "PUT", "/admin/v1/iam/"+resource, string(b))
}

// Shorthands on the plain listener of s, as its admin.

func (s *server) mustCreateApp(t *testing.T, name, project string) {
	t.Helper()
	s.plainTarget().mustCreateApp(t, s.token, name, project)
}

func (s *server) mustAPIKey(t *testing.T, app string) (keyID, key string) {
	t.Helper()
	return s.plainTarget().mustAPIKey(t, s.token, app)
}

func (s *server) mustSetPolicy(t *testing.T, resource string, bindings map[string][]string) {
	t.Helper()
	s.plainTarget().mustSetPolicy(t, s.token, resource, bindings)
}

// grpcClientAs is the official gRPC client calling s with a bearer token.
func (s *server) grpcClientAs(t *testing.T, token string) *kms.KeyManagementClient {
	t.Helper()
	c, err := kms.NewKeyManagementClient(t.Context(),
		option.WithEndpoint(s.grpcAddr),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
		option.WithGRPCDialOption(grpc.WithPerRPCCredentials(bearer{token})),
	)
	if err != nil {
		t.Fatalf("kms.NewKeyManagementClient(%s) = %v", s.grpcAddr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// restClientAs is the official REST client calling s with a bearer token.
func (s *server) restClientAs(t *testing.T, token string) *kms.KeyManagementClient {
	t.Helper()
	c, err := kms.NewKeyManagementRESTClient(t.Context(),
		option.WithEndpoint("http://"+s.restAddr),
		option.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token})),
	)
	if err != nil {
		t.Fatalf("kms.NewKeyManagementRESTClient(%s) = %v", s.restAddr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// messageOf returns the error message the server sent, from either
// official client: the gRPC status message, or over REST the message of
// the JSON error envelope.
func messageOf(err error) string {
	var gerr *googleapi.Error
	if errors.As(err, &gerr) {
		var env struct {
			Error struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal([]byte(gerr.Body), &env) == nil {
			return env.Error.Message
		}
		return gerr.Message
	}
	return status.Convert(err).Message()
}

// deniedMessage is Cloud KMS's PERMISSION_DENIED message, the same whether
// or not the resource exists. Issue 4 makes its wording part of the
// interface, so the tests compare it exactly: the one place where they
// assert an error's text and not only its code.
func deniedMessage(perm, resource string) string {
	return fmt.Sprintf("Permission '%s' denied on resource '%s' (or it may not exist).", perm, resource)
}

// auditEntry is one entry of GET /admin/v1/audit.
type auditEntry struct {
	Seq           int64             `json:"seq"`
	Time          time.Time         `json:"time"`
	Principal     string            `json:"principal"`
	AuthMethod    string            `json:"authMethod"`
	Method        string            `json:"method"`
	Resource      string            `json:"resource"`
	Status        string            `json:"status"`
	RequestID     string            `json:"requestId"`
	ClientAddress string            `json:"clientAddress"`
	Justification string            `json:"justification"`
	Details       map[string]string `json:"details"`
}

// auditAfter returns every audit entry after seq, in order.
func (h httpTarget) auditAfter(t *testing.T, token string, seq int64) []auditEntry {
	t.Helper()
	var all []auditEntry
	for {
		q := url.Values{"afterSeq": {strconv.FormatInt(seq, 10)}, "limit": {"1000"}}
		a := h.call(t, "GET", "/admin/v1/audit?"+q.Encode(), "", token)
		if a.status != http.StatusOK {
			t.Fatalf("GET /admin/v1/audit?%s = %d %s, want 200", q.Encode(), a.status, a.body)
		}
		var page struct {
			Entries []auditEntry `json:"entries"`
		}
		if err := json.Unmarshal(a.body, &page); err != nil {
			t.Fatalf("GET /admin/v1/audit: %v in %q", err, a.body)
		}
		all = append(all, page.Entries...)
		if len(page.Entries) < 1000 {
			return all
		}
		seq = page.Entries[len(page.Entries)-1].Seq
	}
}

func (s *server) auditAfter(t *testing.T, seq int64) []auditEntry {
	t.Helper()
	return s.plainTarget().auditAfter(t, s.token, seq)
}

// auditHead returns the seq of the last audit entry (0 for none).
func (h httpTarget) auditHead(t *testing.T, token string) int64 {
	t.Helper()
	es := h.auditAfter(t, token, 0)
	if len(es) == 0 {
		return 0
	}
	return es[len(es)-1].Seq
}

func (s *server) auditHead(t *testing.T) int64 {
	t.Helper()
	return s.plainTarget().auditHead(t, s.token)
}

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
	pool *x509.CertPool
}

// nextSerial returns a random 127-bit certificate serial number.
func nextSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return n
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          nextSerial(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("x509.CreateCertificate(CA) = %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pool: pool}
}

// issue returns a certificate signed by ca: for 127.0.0.1 and localhost if
// server, else a client certificate named cn.
func (ca *testCA) issue(t *testing.T, cn string, server bool) (certPEM, keyPEM []byte, pair tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: nextSerial(),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		tmpl.DNSNames = []string{"localhost"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatalf("x509.CreateCertificate(%s) = %v", cn, err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
	pair, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatalf("tls.X509KeyPair(%s) = %v", cn, err)
	}
	return certPEM, keyPEM, pair
}

// writeTestFile writes data to dir/name and returns the path.
func writeTestFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// startTLSServer starts a server whose listeners serve TLS with a
// certificate of ca, and accept client certificates of ca (mTLS).
func startTLSServer(t *testing.T, ca *testCA) *server {
	t.Helper()
	dir := t.TempDir()
	certPEM, keyPEM, _ := ca.issue(t, "custos-e2e-server", true)
	return startServer(t,
		"--tls-cert", writeTestFile(t, dir, "server.pem", certPEM),
		"--tls-key", writeTestFile(t, dir, "server.key", keyPEM),
		"--tls-client-ca", writeTestFile(t, dir, "ca.pem", ca.pem),
	)
}

// tlsTarget is the REST listener of a TLS server, reached with the CA's
// trust and the given client certificates (none: no mTLS).
func (s *server) tlsTarget(ca *testCA, certs ...tls.Certificate) httpTarget {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool, Certificates: certs}}
	return httpTarget{base: "https://" + s.restAddr, client: &http.Client{Timeout: 30 * time.Second, Transport: tr}}
}
