// SPDX-License-Identifier: Apache-2.0

package ekm

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// GoogleJWKSURL is where Google publishes the keys that sign its ID tokens.
const GoogleJWKSURL = "https://www.googleapis.com/oauth2/v3/certs"

// JWKS cache bounds.
const (
	// defaultJWKSTTL is how long a key set is fresh when its answer has no
	// Cache-Control max-age. Google's answers carry one of a few hours.
	defaultJWKSTTL = time.Hour
	// minJWKSTTL and maxJWKSTTL bound max-age: a tiny one would make every
	// request fetch, a huge one would keep a withdrawn key for days.
	minJWKSTTL = time.Minute
	maxJWKSTTL = 24 * time.Hour
	// staleGrace is how long past its freshness a key set is still used
	// while Google's endpoint cannot be reached: Cloud EKM keeps working
	// through an outage of the fetch, bounded.
	staleGrace = 24 * time.Hour
	// defaultMinRefresh is the least time between two fetches that an
	// unknown kid (or an expired set) triggers: a flood of tokens with
	// made-up kids costs Google's endpoint at most one fetch per interval.
	defaultMinRefresh = 10 * time.Second
	// fetchTimeout bounds one fetch, whatever the request that caused it.
	fetchTimeout = 10 * time.Second
	// maxJWKSBody bounds the key set read; Google's is about 2 KiB.
	maxJWKSBody = 1 << 20
	// minRSABits refuses weak signing keys in the set.
	minRSABits = 2048
)

// errJWKSUnavailable is the cause when no usable key set can be had: the
// request is answered 503 (transient), never 401.
var errJWKSUnavailable = errors.New("ekm: Google's signing keys cannot be fetched")

// keySet is the cached JWKS. Lookups of a known kid in a fresh set take no
// lock; fetches are serialized by sem and rate-limited.
type keySet struct {
	url        string
	client     *http.Client
	now        func() time.Time
	log        *slog.Logger
	minRefresh time.Duration

	state atomic.Pointer[jwksState]
	sem   chan struct{} // of capacity 1: held while fetching
	// fetches counts fetch attempts (for tests and metrics).
	fetches atomic.Int64
}

// jwksState is one immutable view of the cache.
type jwksState struct {
	keys        map[string]*rsa.PublicKey
	fetched     time.Time // last successful fetch (zero: never)
	fresh       time.Time // keys are fresh until then
	lastAttempt time.Time // last fetch, successful or not
}

func newKeySet(url string, client *http.Client, now func() time.Time, log *slog.Logger, minRefresh time.Duration) *keySet {
	ks := &keySet{url: url, client: client, now: now, log: log, minRefresh: minRefresh, sem: make(chan struct{}, 1)}
	ks.state.Store(&jwksState{})
	return ks
}

// lookupResult says why a kid could not be given.
type lookupResult int

const (
	keyFound       lookupResult = iota
	keyUnknown                  // a set fetched after the token was issued lacks the kid: 401
	keyUnavailable              // no usable set, or the kid is unknown and no refresh could settle it: 503
)

// lookup returns the public key of kid. iat is the token's (unverified)
// issue time: a kid missing from a set fetched after iat is unknown for
// good (Google publishes its keys before it signs with them), while a kid
// missing from an older set may be a new key, so the answer is "try again"
// until a refresh settles it.
func (ks *keySet) lookup(ctx context.Context, kid string, iat time.Time) (*rsa.PublicKey, lookupResult) {
	now := ks.now()
	st := ks.state.Load()
	k := st.keys[kid]
	if k != nil && now.Before(st.fresh) {
		return k, keyFound
	}
	// A fetch may be needed: one at a time. A kid of a set that is stale
	// but still usable does not wait for another request's fetch (which
	// may hang for fetchTimeout): it is answered with the stale set.
	if k != nil && st.usable(now) {
		select {
		case ks.sem <- struct{}{}:
		default:
			return k, keyFound
		}
	} else {
		select {
		case ks.sem <- struct{}{}:
		case <-ctx.Done():
			return nil, keyUnavailable
		}
	}
	st = ks.state.Load() // another request may have fetched meanwhile
	now = ks.now()
	if k := st.keys[kid]; k == nil || !now.Before(st.fresh) {
		if st.lastAttempt.IsZero() || now.Sub(st.lastAttempt) >= ks.minRefresh {
			st = ks.refresh(st, now)
		}
	}
	<-ks.sem

	usable := st.usable(now)
	if k := st.keys[kid]; k != nil && usable {
		return k, keyFound
	}
	if usable && !st.fetched.Before(iat) {
		return nil, keyUnknown
	}
	return nil, keyUnavailable
}

// usable reports whether the set may still be used at now: it was fetched
// once, and is fresh or within staleGrace past its freshness.
func (st *jwksState) usable(now time.Time) bool {
	return !st.fetched.IsZero() && now.Before(st.fresh.Add(staleGrace))
}

// refresh fetches the set and stores the new state; on failure it keeps
// the old keys and records the attempt.
func (ks *keySet) refresh(old *jwksState, now time.Time) *jwksState {
	ks.fetches.Add(1)
	keys, ttl, err := ks.fetch()
	next := &jwksState{keys: old.keys, fetched: old.fetched, fresh: old.fresh, lastAttempt: now}
	if err != nil {
		ks.log.Warn("Cloud EKM: cannot fetch the ID-token signing keys; keeping the previous ones",
			"url", ks.url, "err", err, "last_success", old.fetched)
	} else {
		next.keys, next.fetched, next.fresh = keys, now, now.Add(ttl)
	}
	ks.state.Store(next)
	return next
}

// fetch reads the JWKS and keeps its RSA signing keys.
func (ks *keySet) fetch() (map[string]*rsa.PublicKey, time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ks.url, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := ks.client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("HTTP status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBody+1))
	if err != nil {
		return nil, 0, err
	}
	if len(body) > maxJWKSBody {
		return nil, 0, fmt.Errorf("the key set exceeds %d bytes", maxJWKSBody)
	}
	keys, err := parseJWKS(body)
	if err != nil {
		return nil, 0, err
	}
	return keys, cacheTTL(resp.Header.Get("Cache-Control")), nil
}

// parseJWKS keeps the keys of a JWK set that can verify RS256: RSA public
// keys of at least 2048 bits with a kid, whose use (if given) is "sig" and
// whose alg (if given) is RS256. A set with no such key is an error: with
// it every token would be refused, so it is treated as a failed fetch.
func parseJWKS(body []byte) (map[string]*rsa.PublicKey, error) {
	// Each key is parsed on its own: a key of a type go-jose does not
	// know must not hide the others.
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("not a JWK set: %v", err)
	}
	keys := map[string]*rsa.PublicKey{}
	for _, raw := range set.Keys {
		var k jose.JSONWebKey
		if k.UnmarshalJSON(raw) != nil {
			continue
		}
		pub, ok := k.Key.(*rsa.PublicKey)
		switch {
		case !ok, k.KeyID == "", pub.N.BitLen() < minRSABits:
			continue
		case k.Use != "" && k.Use != "sig":
			continue
		case k.Algorithm != "" && k.Algorithm != string(jose.RS256):
			continue
		}
		keys[k.KeyID] = pub
	}
	if len(keys) == 0 {
		return nil, errors.New("the key set holds no RSA signing key")
	}
	return keys, nil
}

// cacheTTL reads max-age from a Cache-Control header, bounded.
func cacheTTL(cc string) time.Duration {
	for part := range strings.SplitSeq(cc, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || !strings.EqualFold(name, "max-age") {
			continue
		}
		secs, err := strconv.ParseInt(strings.Trim(val, `"`), 10, 64)
		if err != nil || secs < 0 {
			break
		}
		return min(max(time.Duration(min(secs, int64(maxJWKSTTL/time.Second)))*time.Second, minJWKSTTL), maxJWKSTTL)
	}
	return defaultJWKSTTL
}
