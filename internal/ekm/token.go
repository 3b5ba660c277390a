// SPDX-License-Identifier: Apache-2.0

package ekm

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/custos-kms/custos/internal/kmserr"
)

// Google ID token rules.
const (
	// tokenSkew is the clock skew allowed on exp, iat and nbf.
	tokenSkew = 60 * time.Second
	// maxTokenLifetime bounds exp - iat. Google's ID tokens live one hour.
	maxTokenLifetime = time.Hour + tokenSkew
	// maxTokenLen bounds the tokens parsed at all; Google's are about 1 KiB.
	maxTokenLen = 8 << 10
	// defaultTokenCache bounds the verified tokens kept.
	defaultTokenCache = 10_000
)

// googleIssuers are the iss values of Google's ID tokens.
var googleIssuers = map[string]bool{
	"accounts.google.com":         true,
	"https://accounts.google.com": true,
}

// Identity is what a verified Google ID token says about its bearer.
type Identity struct {
	// Email is the token's email claim, as sent (compare it without
	// regard to case).
	Email string
	// Subject is the account's unique id.
	Subject string
	// Expiry is when the token expires.
	Expiry time.Time
}

// VerifierConfig is what a [Verifier] is built from.
type VerifierConfig struct {
	// JWKSURL is where the signing keys are; [GoogleJWKSURL] if "".
	JWKSURL string
	// Audiences are the accepted aud values. Required (at least one).
	Audiences []string
	// HTTPClient fetches the keys; a client with a timeout if nil.
	HTTPClient *http.Client
	// Now is the clock; time.Now if nil.
	Now func() time.Time
	// Logger; slog.Default() if nil.
	Logger *slog.Logger
	// CacheSize bounds the verified tokens cached; 10 000 if 0.
	CacheSize int
	// MinRefresh is the least time between two fetches of the keys; 10 s
	// if 0.
	MinRefresh time.Duration
}

// Verifier checks Google-signed OIDC ID tokens: an RS256 signature by a key
// of Google's JWKS, iss, aud, exp (and iat, nbf) with a minute of skew,
// email_verified true and an email. It is safe for concurrent use.
//
// Verified tokens are cached, keyed by their SHA-256, until they expire, so
// that a request with a token already seen costs no RSA verification. The
// key set is fetched on first use, kept for its Cache-Control max-age
// (between a minute and a day), and fetched again when it is stale or a
// token names a kid it lacks, at most once per MinRefresh.
//
// # Unknown keys and outages
//
// A token whose kid is missing from a key set fetched after the token was
// issued is refused (401): Google publishes its keys before it signs with
// them, so that key is not Google's. When the set cannot be fetched at
// all, or the kid is missing from a set older than the token and the
// refresh is rate-limited or fails, the answer is 503 (try again): a 401
// there would tell Cloud KMS that a good token is bad because of our own
// fault. A set that was fetched once stays usable up to a day past its
// freshness while the endpoint is down, and a token of a key in such a set
// never waits for another request's fetch of the set.
type Verifier struct {
	keys      *keySet
	audiences map[string]bool
	now       func() time.Time
	log       *slog.Logger
	cache     *lru.Cache[[32]byte, Identity]
	// lastAudLog is the Unix time of the last audience warning.
	lastAudLog atomic.Int64
}

// NewVerifier builds a Verifier. It fails if no audience is given or the
// JWKS URL is not an absolute http(s) URL.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	if len(cfg.Audiences) == 0 {
		return nil, errors.New("ekm: at least one audience is required")
	}
	jwksURL := cfg.JWKSURL
	if jwksURL == "" {
		jwksURL = GoogleJWKSURL
	}
	u, err := url.Parse(jwksURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("ekm: JWKS URL %q is not an absolute http(s) URL", jwksURL)
	}
	// Whoever can change the keys fetched can forge any app's token: over
	// the network they come only over https (plain http for a local
	// issuer in tests).
	if u.Scheme == "http" && !loopbackHost(u.Hostname()) {
		return nil, fmt.Errorf("ekm: JWKS URL %q: the signing keys must come over https (http is accepted on loopback only)", jwksURL)
	}
	v := &Verifier{audiences: map[string]bool{}, now: cfg.Now, log: cfg.Logger}
	if v.now == nil {
		v.now = time.Now
	}
	if v.log == nil {
		v.log = slog.Default()
	}
	for _, a := range cfg.Audiences {
		if a == "" {
			return nil, errors.New("ekm: an audience is empty")
		}
		v.audiences[a] = true
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: fetchTimeout, CheckRedirect: noDowngrade}
	}
	minRefresh := cfg.MinRefresh
	if minRefresh <= 0 {
		minRefresh = defaultMinRefresh
	}
	size := cfg.CacheSize
	if size <= 0 {
		size = defaultTokenCache
	}
	v.cache, _ = lru.New[[32]byte, Identity](size)
	v.keys = newKeySet(jwksURL, client, v.now, v.log, minRefresh)
	return v, nil
}

// loopbackHost reports whether host (no port) is a loopback name or
// address.
func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// noDowngrade refuses a redirect of the JWKS fetch from https to http
// (or off loopback over http), and more than a few redirects.
func noDowngrade(req *http.Request, via []*http.Request) error {
	if len(via) >= 5 {
		return errors.New("too many redirects")
	}
	if req.URL.Scheme != "https" && (via[0].URL.Scheme == "https" || !loopbackHost(req.URL.Hostname())) {
		return fmt.Errorf("redirect to %s: the signing keys must come over https", req.URL.Redacted())
	}
	return nil
}

// DefaultAudiences returns the audiences accepted by default for a public
// URL: its origin (scheme://host[:port]) with and without its port. A URL
// without a port also gets the scheme's default port, so that a token
// whose aud spells it out is accepted too.
func DefaultAudiences(publicURL string) ([]string, error) {
	u, err := url.Parse(publicURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("ekm: public URL %q is not an absolute http(s) URL", publicURL)
	}
	host := u.Hostname()
	if strings.Contains(host, ":") {
		host = "[" + host + "]" // IPv6
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	origin := u.Scheme + "://" + host
	return []string{origin + ":" + port, origin}, nil
}

// JWKSFetches returns how many times the key set was fetched.
func (v *Verifier) JWKSFetches() int64 { return v.keys.fetches.Load() }

// idClaims are the claims read from a Google ID token.
type idClaims struct {
	Issuer        string           `json:"iss"`
	Subject       string           `json:"sub"`
	Audience      jwt.Audience     `json:"aud"`
	Expiry        *jwt.NumericDate `json:"exp"`
	IssuedAt      *jwt.NumericDate `json:"iat"`
	NotBefore     *jwt.NumericDate `json:"nbf"`
	Email         string           `json:"email"`
	EmailVerified flexBool         `json:"email_verified"`
}

// flexBool is a JSON boolean, or the string "true"/"false" (some Google
// tokens once carried it that way).
type flexBool bool

func (b *flexBool) UnmarshalJSON(data []byte) error {
	var v bool
	if err := json.Unmarshal(data, &v); err == nil {
		*b = flexBool(v)
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return errors.New("email_verified is neither a boolean nor a string")
	}
	*b = flexBool(s == "true")
	return nil
}

func unauthenticated(format string, args ...any) error {
	return kmserr.Unauthenticated(format, args...)
}

// Verify checks a Google ID token and returns who it names. It returns an
// UNAUTHENTICATED *kmserr.Error for a token that is missing, malformed,
// expired or fails any check, and an UNAVAILABLE one (wrapping
// errJWKSUnavailable) when the signing keys cannot be had: see the type's
// documentation.
func (v *Verifier) Verify(ctx context.Context, token string) (Identity, error) {
	if token == "" {
		return Identity{}, unauthenticated("the request has no bearer token; Cloud EKM calls carry a Google-signed ID token")
	}
	if len(token) > maxTokenLen {
		return Identity{}, unauthenticated("the bearer token is too long")
	}
	// Only tokens that passed every check below are cached, so a hit
	// needs no other check than its expiry.
	sum := sha256.Sum256([]byte(token))
	now := v.now()
	if id, ok := v.cache.Get(sum); ok {
		if now.Before(id.Expiry.Add(tokenSkew)) {
			return id, nil
		}
		v.cache.Remove(sum)
		return Identity{}, unauthenticated("the ID token has expired")
	}
	if !canonicalJWT(token) {
		return Identity{}, unauthenticated("the bearer token is not a JWT (three canonical base64url parts expected); Custos's own tokens are not accepted here")
	}
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return Identity{}, unauthenticated("the ID token is malformed or not signed with RS256")
	}
	if len(tok.Headers) != 1 || tok.Headers[0].KeyID == "" {
		return Identity{}, unauthenticated("the ID token must have one signature with a kid")
	}
	// The unverified iat only picks between 401 and 503 for an unknown
	// kid (see lookup); it is checked for sanity first.
	var pre idClaims
	if err := tok.UnsafeClaimsWithoutVerification(&pre); err != nil {
		return Identity{}, unauthenticated("the ID token's claims are malformed")
	}
	if pre.IssuedAt == nil || pre.IssuedAt.Time().After(now.Add(tokenSkew)) {
		return Identity{}, unauthenticated("the ID token has no iat, or is issued in the future")
	}
	key, res := v.keys.lookup(ctx, tok.Headers[0].KeyID, pre.IssuedAt.Time())
	switch res {
	case keyUnknown:
		return Identity{}, unauthenticated("the ID token's kid names no key of Google's key set")
	case keyUnavailable:
		return Identity{}, kmserr.Unavailable(errJWKSUnavailable, "the ID token cannot be checked now: Google's signing keys are unavailable; retry later")
	}
	var c idClaims
	if err := tok.Claims(key, &c); err != nil {
		if errors.Is(err, jose.ErrCryptoFailure) {
			return Identity{}, unauthenticated("the ID token's signature does not verify")
		}
		return Identity{}, unauthenticated("the ID token's claims are malformed")
	}
	id, err := v.checkClaims(&c, now)
	if err != nil {
		return Identity{}, err
	}
	v.cache.Add(sum, id)
	return id, nil
}

// checkClaims applies the claim rules to a token whose signature verified.
func (v *Verifier) checkClaims(c *idClaims, now time.Time) (Identity, error) {
	if !googleIssuers[c.Issuer] {
		return Identity{}, unauthenticated("the ID token's iss is not accounts.google.com")
	}
	audOK := false
	for _, a := range c.Audience {
		if v.audiences[a] {
			audOK = true
			break
		}
	}
	if !audOK {
		// Cloud KMS's exact audience is not documented: say what it was,
		// so that an operator can add it with --ekm-audience. The claims
		// verified, so this is Google's word, not an attacker's.
		// Anyone with a Google account can get a Google-signed token for
		// any audience: at most one such line a minute.
		if last := v.lastAudLog.Load(); now.Unix()-last >= 60 && v.lastAudLog.CompareAndSwap(last, now.Unix()) {
			v.log.Warn("Cloud EKM: refused an ID token for its audience; if it is right, add it with --ekm-audience",
				"aud", printable(strings.Join(c.Audience, ","), 256), "email", printable(c.Email, 256))
		}
		return Identity{}, unauthenticated("the ID token's aud is not an audience of this server")
	}
	if c.Expiry == nil || c.IssuedAt == nil {
		return Identity{}, unauthenticated("the ID token must have iat and exp claims")
	}
	iat, exp := c.IssuedAt.Time(), c.Expiry.Time()
	switch {
	case !exp.After(iat):
		return Identity{}, unauthenticated("the ID token expires before it is issued")
	case exp.Sub(iat) > maxTokenLifetime:
		return Identity{}, unauthenticated("the ID token's lifetime (exp - iat) exceeds one hour")
	case !now.Before(exp.Add(tokenSkew)):
		return Identity{}, unauthenticated("the ID token has expired")
	case iat.After(now.Add(tokenSkew)):
		return Identity{}, unauthenticated("the ID token is issued in the future")
	case c.NotBefore != nil && c.NotBefore.Time().After(now.Add(tokenSkew)):
		return Identity{}, unauthenticated("the ID token is not valid yet (nbf)")
	}
	if c.Email == "" {
		return Identity{}, unauthenticated("the ID token has no email claim; Cloud EKM's service agent tokens carry one")
	}
	if !c.EmailVerified {
		return Identity{}, unauthenticated("the ID token's email is not verified (email_verified is not true)")
	}
	return Identity{Email: c.Email, Subject: c.Subject, Expiry: exp}, nil
}

// canonicalJWT reports whether s is three parts of canonical unpadded
// base64url (the last may not be empty: alg none is never accepted).
// go-jose decodes leniently; requiring the canonical spelling keeps one
// cache entry per token.
func canonicalJWT(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if p == "" {
			return false
		}
		if _, err := base64.RawURLEncoding.Strict().DecodeString(p); err != nil {
			return false
		}
	}
	return true
}

// bearerToken returns the token of an "Authorization: Bearer T" header, or
// "" if there is none.
func bearerToken(h string) string {
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}
