// SPDX-License-Identifier: Apache-2.0

package ekm

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"

	"github.com/custos-kms/custos/internal/kmserr"
)

const (
	testAud   = "https://ekm.example.com"
	testEmail = "service-123@gcp-sa-ekms.iam.gserviceaccount.com"
)

// quiet discards the verifier's warnings in tests.
var quiet = slog.New(slog.DiscardHandler)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)} }

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTestVerifier(t *testing.T, iss *issuer, clk *fakeClock) *Verifier {
	t.Helper()
	v, err := NewVerifier(VerifierConfig{JWKSURL: iss.url(), Audiences: []string{testAud, "https://other.example.com"}, Now: clk.now, MinRefresh: 10 * time.Second, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVerifyClaims(t *testing.T) {
	iss := newIssuer(t)
	clk := newClock()
	k1 := iss.keys["k1"]
	now := clk.now()
	with := func(mod func(c claims)) string {
		c := googleClaims(testEmail, testAud, now)
		mod(c)
		return mint(t, k1, "k1", c)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other := rsaKeys(t, 2)[1]
	tests := []struct {
		name  string
		token string
		want  codes.Code
	}{
		{"good token", with(func(claims) {}), codes.OK},
		{"issuer without scheme", with(func(c claims) { c["iss"] = "accounts.google.com" }), codes.OK},
		{"second configured audience", with(func(c claims) { c["aud"] = "https://other.example.com" }), codes.OK},
		{"audience as a list", with(func(c claims) { c["aud"] = []string{"x", testAud} }), codes.OK},
		{"email_verified as a string", with(func(c claims) { c["email_verified"] = "true" }), codes.OK},
		{"expired a little, within skew", with(func(c claims) {
			c["iat"] = now.Add(-time.Hour - 30*time.Second).Unix()
			c["exp"] = now.Add(-30 * time.Second).Unix()
		}), codes.OK},
		{"issued a little in the future, within skew", with(func(c claims) { c["iat"] = now.Add(30 * time.Second).Unix() }), codes.OK},
		{"empty token", "", codes.Unauthenticated},
		{"Custos admin token", "custos_admin_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", codes.Unauthenticated},
		{"Custos API key", "custos_ak_abc_def", codes.Unauthenticated},
		{"not base64", "a.b.c!", codes.Unauthenticated},
		{"two parts", "eyJhbGciOiJSUzI1NiJ9.e30", codes.Unauthenticated},
		{"too long", strings.Repeat("a", maxTokenLen+1), codes.Unauthenticated},
		{"expired", with(func(c claims) { c["iat"] = now.Add(-2 * time.Hour).Unix(); c["exp"] = now.Add(-time.Hour).Unix() }), codes.Unauthenticated},
		{"no exp", with(func(c claims) { delete(c, "exp") }), codes.Unauthenticated},
		{"no iat", with(func(c claims) { delete(c, "iat") }), codes.Unauthenticated},
		{"issued in the future", with(func(c claims) { c["iat"] = now.Add(10 * time.Minute).Unix(); c["exp"] = now.Add(time.Hour).Unix() }), codes.Unauthenticated},
		{"lifetime over an hour", with(func(c claims) { c["exp"] = now.Add(3 * time.Hour).Unix() }), codes.Unauthenticated},
		{"not before in the future", with(func(c claims) { c["nbf"] = now.Add(10 * time.Minute).Unix() }), codes.Unauthenticated},
		{"wrong issuer", with(func(c claims) { c["iss"] = "https://evil.example.com" }), codes.Unauthenticated},
		{"wrong audience", with(func(c claims) { c["aud"] = "https://evil.example.com" }), codes.Unauthenticated},
		{"audience with a path", with(func(c claims) { c["aud"] = testAud + "/ekm" }), codes.Unauthenticated},
		{"no audience", with(func(c claims) { delete(c, "aud") }), codes.Unauthenticated},
		{"email not verified", with(func(c claims) { c["email_verified"] = false }), codes.Unauthenticated},
		{"email_verified missing", with(func(c claims) { delete(c, "email_verified") }), codes.Unauthenticated},
		{"email_verified string false", with(func(c claims) { c["email_verified"] = "false" }), codes.Unauthenticated},
		{"no email", with(func(c claims) { delete(c, "email") }), codes.Unauthenticated},
		{"signed by another key under k1", mint(t, other, "k1", googleClaims(testEmail, testAud, now)), codes.Unauthenticated},
		{"no kid", mint(t, k1, "", googleClaims(testEmail, testAud, now)), codes.Unauthenticated},
		{"ES256", mintAlg(t, jose.ES256, ec, "k1", googleClaims(testEmail, testAud, now)), codes.Unauthenticated},
		{"HS256 with the public key as secret", mintAlg(t, jose.HS256, []byte("0123456789abcdef0123456789abcdef"), "k1", googleClaims(testEmail, testAud, now)), codes.Unauthenticated},
		{"alg none", "eyJhbGciOiJub25lIiwia2lkIjoiazEifQ.eyJpc3MiOiJhY2NvdW50cy5nb29nbGUuY29tIn0.", codes.Unauthenticated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := newTestVerifier(t, iss, clk)
			id, err := v.Verify(context.Background(), tc.token)
			if got := kmserr.Code(err); got != tc.want {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
			if tc.want == codes.OK && (id.Email != testEmail || id.Subject != "1234567890") {
				t.Errorf("Verify = %+v, want email %s", id, testEmail)
			}
		})
	}
}

func TestVerifyCachesTokensAndKeys(t *testing.T) {
	iss := newIssuer(t)
	clk := newClock()
	v := newTestVerifier(t, iss, clk)
	tok := iss.token(t, testEmail, testAud, clk.now())
	for range 5 {
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Fatalf("Verify = %v", err)
		}
	}
	if n := iss.hits.Load(); n != 1 {
		t.Errorf("JWKS fetched %d times for five verifications, want 1", n)
	}
	// A cached token needs no key: it passes with the JWKS down and the
	// key set stale.
	iss.setDown(true)
	clk.add(59 * time.Minute)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Errorf("cached token with the JWKS down: Verify = %v", err)
	}
	// ... until it expires.
	clk.add(2*time.Minute + tokenSkew)
	if _, err := v.Verify(context.Background(), tok); kmserr.Code(err) != codes.Unauthenticated {
		t.Errorf("cached token past its expiry: Verify = %v, want UNAUTHENTICATED", err)
	}
}

func TestVerifyUnknownKid(t *testing.T) {
	iss := newIssuer(t)
	clk := newClock()
	ctx := context.Background()
	v := newTestVerifier(t, iss, clk)
	k2 := rsaKeys(t, 2)[1]

	// First use: the fetch happens, k2 is not published: 401.
	if _, err := v.Verify(ctx, mint(t, k2, "k2", googleClaims(testEmail, testAud, clk.now()))); kmserr.Code(err) != codes.Unauthenticated {
		t.Fatalf("unknown kid after a refresh: Verify = %v, want UNAUTHENTICATED", err)
	}
	if n := iss.hits.Load(); n != 1 {
		t.Fatalf("JWKS fetched %d times, want 1", n)
	}
	// A flood of made-up kids within the refresh interval costs no fetch,
	// and is refused (401) when the tokens predate the last fetch.
	old := clk.now().Add(-time.Minute)
	for i := range 50 {
		tok := mint(t, k2, "made-up-"+string(rune('a'+i%26)), googleClaims(testEmail, testAud, old))
		if _, err := v.Verify(ctx, tok); kmserr.Code(err) != codes.Unauthenticated {
			t.Fatalf("made-up kid: Verify = %v, want UNAUTHENTICATED", err)
		}
	}
	if n := iss.hits.Load(); n != 1 {
		t.Errorf("JWKS fetched %d times after a flood of unknown kids, want 1", n)
	}
	// Google publishes k2. A token issued after our last fetch, within the
	// refresh interval, cannot be settled yet: 503, not 401.
	iss.publish("k2", k2)
	clk.add(2 * time.Second)
	tok := mint(t, k2, "k2", googleClaims(testEmail, testAud, clk.now()))
	if _, err := v.Verify(ctx, tok); kmserr.Code(err) != codes.Unavailable {
		t.Fatalf("new kid within the refresh interval: Verify = %v, want UNAVAILABLE", err)
	}
	// After the interval the refresh finds it.
	clk.add(10 * time.Second)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatalf("new kid after a refresh: Verify = %v", err)
	}
	if n := iss.hits.Load(); n != 2 {
		t.Errorf("JWKS fetched %d times, want 2", n)
	}
}

func TestVerifyJWKSOutage(t *testing.T) {
	iss := newIssuer(t)
	clk := newClock()
	ctx := context.Background()

	// Never fetched, endpoint down: 503, never 401.
	iss.setDown(true)
	v := newTestVerifier(t, iss, clk)
	if _, err := v.Verify(ctx, iss.token(t, testEmail, testAud, clk.now())); kmserr.Code(err) != codes.Unavailable {
		t.Fatalf("JWKS down, nothing cached: Verify = %v, want UNAVAILABLE", err)
	}
	// Back up: after the rate-limit interval, it works.
	iss.setDown(false)
	clk.add(11 * time.Second)
	if _, err := v.Verify(ctx, iss.token(t, testEmail, testAud, clk.now())); err != nil {
		t.Fatalf("JWKS back: Verify = %v", err)
	}
	// Down again, past the set's freshness (1 h default): the stale set
	// still verifies new tokens, for up to a day.
	iss.setDown(true)
	clk.add(2 * time.Hour)
	if _, err := v.Verify(ctx, iss.token(t, testEmail, testAud, clk.now())); err != nil {
		t.Fatalf("stale key set, JWKS down: Verify = %v", err)
	}
	clk.add(staleGrace)
	if _, err := v.Verify(ctx, iss.token(t, testEmail, testAud, clk.now())); kmserr.Code(err) != codes.Unavailable {
		t.Fatalf("key set stale past the grace, JWKS down: Verify = %v, want UNAVAILABLE", err)
	}
}

func TestVerifyHonoursMaxAge(t *testing.T) {
	iss := newIssuer(t)
	iss.cacheCtrl = "public, max-age=120, must-revalidate"
	clk := newClock()
	v := newTestVerifier(t, iss, clk)
	for range 3 {
		if _, err := v.Verify(context.Background(), iss.token(t, testEmail, testAud, clk.now())); err != nil {
			t.Fatal(err)
		}
		clk.add(100 * time.Second)
	}
	// Fetched at 0 s, fresh until 120 s; the call at 200 s fetches again.
	if n := iss.hits.Load(); n != 2 {
		t.Errorf("JWKS fetched %d times over 200 s with max-age 120, want 2", n)
	}
}

func TestCacheTTL(t *testing.T) {
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"", defaultJWKSTTL},
		{"public, max-age=19947, must-revalidate, no-transform", 19947 * time.Second},
		{"max-age=5", minJWKSTTL},
		{"max-age=999999999999", maxJWKSTTL},
		{"MAX-AGE=600", 10 * time.Minute},
		{"max-age=-1", defaultJWKSTTL},
		{"max-age=abc", defaultJWKSTTL},
		{"no-store", defaultJWKSTTL},
	}
	for _, tc := range tests {
		if got := cacheTTL(tc.header); got != tc.want {
			t.Errorf("cacheTTL(%q) = %v, want %v", tc.header, got, tc.want)
		}
	}
}

func TestParseJWKS(t *testing.T) {
	k := rsaKeys(t, 1)[0]
	good, _ := jose.JSONWebKey{Key: &k.PublicKey, KeyID: "a", Algorithm: "RS256", Use: "sig"}.MarshalJSON()
	enc, _ := jose.JSONWebKey{Key: &k.PublicKey, KeyID: "b", Use: "enc"}.MarshalJSON()
	noKid, _ := jose.JSONWebKey{Key: &k.PublicKey}.MarshalJSON()
	tests := []struct {
		name    string
		body    string
		want    []string
		wantErr bool
	}{
		{"one key", `{"keys":[` + string(good) + `]}`, []string{"a"}, false},
		{"unknown key type is skipped", `{"keys":[{"kty":"OKP","crv":"X448","x":"AA","kid":"z"},` + string(good) + `]}`, []string{"a"}, false},
		{"encryption key skipped", `{"keys":[` + string(enc) + `,` + string(good) + `]}`, []string{"a"}, false},
		{"no usable key", `{"keys":[` + string(enc) + `,` + string(noKid) + `]}`, nil, true},
		{"empty set", `{"keys":[]}`, nil, true},
		{"not JSON", `<html>`, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			keys, err := parseJWKS([]byte(tc.body))
			if (err != nil) != tc.wantErr {
				t.Fatalf("parseJWKS = %v, want error %v", err, tc.wantErr)
			}
			var got []string
			for kid := range keys {
				got = append(got, kid)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("kids (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDefaultAudiences(t *testing.T) {
	tests := []struct {
		url  string
		want []string
	}{
		{"https://ekm.example.com", []string{"https://ekm.example.com:443", "https://ekm.example.com"}},
		{"https://ekm.example.com/", []string{"https://ekm.example.com:443", "https://ekm.example.com"}},
		{"http://127.0.0.1:8200", []string{"http://127.0.0.1:8200", "http://127.0.0.1"}},
		{"https://kms.example.com:8443/prefix", []string{"https://kms.example.com:8443", "https://kms.example.com"}},
		{"http://[::1]:8200", []string{"http://[::1]:8200", "http://[::1]"}},
	}
	for _, tc := range tests {
		got, err := DefaultAudiences(tc.url)
		if err != nil {
			t.Fatalf("DefaultAudiences(%q) = %v", tc.url, err)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("DefaultAudiences(%q) (-want +got):\n%s", tc.url, diff)
		}
	}
	if _, err := DefaultAudiences("ekm.example.com"); err == nil {
		t.Errorf("DefaultAudiences without a scheme: no error")
	}
}

func TestBearerToken(t *testing.T) {
	for h, want := range map[string]string{
		"Bearer abc":  "abc",
		"bearer  abc": "abc",
		"Basic abc":   "",
		"Bearer":      "",
		"":            "",
	} {
		if got := bearerToken(h); got != want {
			t.Errorf("bearerToken(%q) = %q, want %q", h, got, want)
		}
	}
}

// FuzzVerify feeds arbitrary tokens to the verifier: it must never panic,
// and never accept anything but a token our issuer signed.
func FuzzVerify(f *testing.F) {
	iss := newIssuer(f)
	clk := newClock()
	good := iss.token(f, testEmail, testAud, clk.now())
	f.Add(good)
	f.Add(good[:len(good)-2])
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("custos_admin_x")
	f.Add("a.b.c")
	v, err := NewVerifier(VerifierConfig{JWKSURL: iss.url(), Audiences: []string{testAud}, Now: clk.now, Logger: quiet})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		id, err := v.Verify(context.Background(), tok)
		if err == nil && tok != good {
			t.Fatalf("Verify(%q) accepted a token not minted by the issuer: %+v", tok, id)
		}
		if err != nil {
			if c := kmserr.Code(err); c != codes.Unauthenticated && c != codes.Unavailable {
				t.Fatalf("Verify(%q) = %v, want UNAUTHENTICATED or UNAVAILABLE", tok, err)
			}
		}
	})
}

// TestVerifyCacheKeepsCanonicalForm checks that a token the verifier has
// cached does not vouch for another spelling of it: go-jose decodes
// base64url leniently, so a signature whose unused trailing bits differ
// (or that carries padding) still verifies, and only the canonical-form
// check refuses it. The cache, looked up before that check, must miss.
func TestVerifyCacheKeepsCanonicalForm(t *testing.T) {
	iss := newIssuer(t)
	clk := newClock()
	v := newTestVerifier(t, iss, clk)
	tok := iss.token(t, testEmail, testAud, clk.now())
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("Verify = %v", err)
	}
	// An RS256 signature is 256 bytes: 342 base64url characters, whose
	// last carries 4 unused bits.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, tok[len(tok)-1])
	if last < 0 || len(tok[strings.LastIndexByte(tok, '.')+1:]) != 342 {
		t.Fatalf("unexpected signature encoding in %s", tok)
	}
	variants := map[string]string{
		"trailing bits": tok[:len(tok)-1] + string(alphabet[last^1]),
		"padding":       tok + "==",
	}
	for name, variant := range variants {
		if _, err := v.Verify(context.Background(), variant); kmserr.Code(err) != codes.Unauthenticated {
			t.Errorf("%s: Verify of a non-canonical spelling of a cached token = %v, want UNAUTHENTICATED", name, err)
		}
	}
}

// TestVerifyStaleKeysDoNotWaitForAHangingFetch: while Google's key endpoint
// hangs, a token signed by a key of the stale (but still usable) set must
// verify at once, not queue behind the refresh of another request until
// its own deadline (503). A flood of such waits would take the endpoint
// down for as long as the key endpoint hangs, which the stale grace is
// there to prevent.
func TestVerifyStaleKeysDoNotWaitForAHangingFetch(t *testing.T) {
	iss := newIssuer(t)
	clk := newClock()
	v, err := NewVerifier(VerifierConfig{JWKSURL: iss.url(), Audiences: []string{testAud}, Now: clk.now, Logger: quiet,
		HTTPClient: &http.Client{Timeout: 5 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := v.Verify(ctx, iss.token(t, testEmail, testAud, clk.now())); err != nil {
		t.Fatalf("Verify = %v", err)
	}
	// The set goes stale, and the key endpoint hangs.
	release := iss.setHang(t)
	clk.add(2 * time.Hour)
	first := iss.token(t, testEmail, testAud, clk.now().Add(-time.Second))
	second := iss.token(t, testEmail, testAud, clk.now())
	done := make(chan error, 1)
	go func() {
		_, err := v.Verify(ctx, first)
		done <- err
	}()
	for deadline := time.Now().Add(5 * time.Second); iss.hits.Load() < 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the refresh did not start")
		}
	}
	// The refresh is in flight: another new token of a known key verifies
	// with the stale set, without waiting for it.
	cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if _, err := v.Verify(cctx, second); err != nil {
		t.Errorf("a token of a known key while a refresh hangs: Verify = %v, want it verified with the stale set", err)
	}
	release()
	if err := <-done; err != nil {
		t.Errorf("the request that refreshed: Verify = %v", err)
	}
}

// TestJWKSOverHTTPSOnly: the signing keys come over https, or over plain
// http from loopback only, and a fetch is not redirected from https to
// http.
func TestJWKSOverHTTPSOnly(t *testing.T) {
	for u, ok := range map[string]bool{
		"https://www.googleapis.com/oauth2/v3/certs": true,
		"http://127.0.0.1:8080/certs":                true,
		"http://[::1]:8080/certs":                    true,
		"http://localhost/certs":                     true,
		"http://www.googleapis.com/oauth2/v3/certs":  false,
		"http://10.0.0.1/certs":                      false,
	} {
		_, err := NewVerifier(VerifierConfig{JWKSURL: u, Audiences: []string{testAud}, Logger: quiet})
		if (err == nil) != ok {
			t.Errorf("NewVerifier(JWKS URL %s) = %v, want accepted %v", u, err, ok)
		}
	}
	req := func(u string) *http.Request {
		r, err := http.NewRequest("GET", u, nil)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for _, tc := range []struct {
		from, to string
		ok       bool
	}{
		{"https://a.example/certs", "https://b.example/certs", true},
		{"https://a.example/certs", "http://b.example/certs", false},
		{"https://a.example/certs", "http://127.0.0.1/certs", false},
		{"http://127.0.0.1/certs", "http://127.0.0.1:81/certs", true},
		{"http://127.0.0.1/certs", "http://b.example/certs", false},
	} {
		if err := noDowngrade(req(tc.to), []*http.Request{req(tc.from)}); (err == nil) != tc.ok {
			t.Errorf("redirect %s -> %s = %v, want allowed %v", tc.from, tc.to, err, tc.ok)
		}
	}
}
