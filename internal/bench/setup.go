// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// Roles the setup grants. The app that encrypts holds only
// roles/cloudkms.cryptoKeyEncrypterDecrypter on its key, like a service in
// production; the other workloads run as a second app holding what they
// need on their own keys and rings.
const (
	roleEncrypterDecrypter = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
	roleSignerVerifier     = "roles/cloudkms.signerVerifier"
	roleViewer             = "roles/cloudkms.viewer"
	roleAdmin              = "roles/cloudkms.admin"
	roleEKMUser            = "roles/custos.ekmUser"
)

// benchProject is the project the bench's resources live in.
const benchProject = "bench"

// fixture is what the setup made on the server: names and credentials.
// Every name carries the run's id, so runs never collide on one server.
type fixture struct {
	runID string
	ring  string // key ring of the workload keys
	// encKey is GOOGLE_SYMMETRIC_ENCRYPTION; ecKey, rsaKey and macKey are
	// versions (AsymmetricSign and MacSign take a version).
	encKey, ecVersion, rsaVersion, macVersion string
	// encKeyQuiet is a second encryption key with data-access audit off,
	// to tell the audit's cost from the rest.
	encKeyQuiet                    string
	createRing                     string // CreateCryptoKey makes its keys here
	scaleRing                      string // the scale keys; "" unless asked
	encApp, opsApp                 string // app names
	encToken, opsToken, adminToken string // bearer tokens (secret)
	// ciphertext32 is an Encrypt of plaintext32, for Decrypt.
	plaintext32, plaintext4k, ciphertext32 []byte
	digest                                 []byte // a SHA-256 digest to sign
	// answer sizes of Custos, measured once, for the same-sized echo.
	encrypt32Size, encrypt4kSize int
	// seq numbers the keys CreateCryptoKey makes.
	seq atomic.Int64

	// Cloud EKM (when the server trusts the bench's issuer): the key's
	// external key URI path, the app bound to the service agent's email,
	// its ID token, and a blob for unwrap.
	ekmKey, ekmPath, ekmApp, ekmToken string
	ekmBlob                           string
}

// nextKey returns the number of the next key to create.
func (f *fixture) nextKey() int64 { return f.seq.Add(1) }

// newRunID returns a short id unique to this run: time and randomness.
func newRunID() string {
	b := make([]byte, 3)
	rand.Read(b)
	return time.Now().UTC().Format("0102-150405") + "-" + hex.EncodeToString(b)
}

// setup creates, through the public API and as the admin: a key ring
// with an encryption key, EC P-256 and RSA-2048 signing keys and an
// HMAC-SHA256 key; a ring for CreateCryptoKey; optionally a ring for the
// scale keys; two apps with an API key each and their IAM bindings; and
// data-access audit on for every one of them. It then checks that the app
// can encrypt and keeps a ciphertext for Decrypt.
func setup(ctx context.Context, api *apiClient, withScale bool) (*fixture, error) {
	id := newRunID()
	loc := "projects/" + benchProject + "/locations/global"
	f := &fixture{
		runID:       id,
		ring:        loc + "/keyRings/run-" + id,
		createRing:  loc + "/keyRings/run-" + id + "-create",
		encApp:      "bench-" + id + "-enc",
		opsApp:      "bench-" + id + "-ops",
		adminToken:  api.token,
		plaintext32: bytes.Repeat([]byte{0x42}, 32),
		plaintext4k: bytes.Repeat([]byte{0x43}, 4096),
	}
	d := sha256.Sum256([]byte("custos bench"))
	f.digest = d[:]
	if withScale {
		f.scaleRing = loc + "/keyRings/run-" + id + "-scale"
	}
	rings := []string{f.ring, f.createRing}
	if withScale {
		rings = append(rings, f.scaleRing)
	}
	for _, r := range rings {
		parent, rid, _ := cut(r, "/keyRings/")
		if _, err := api.call(ctx, http.MethodPost, "/v1/"+parent+"/keyRings?keyRingId="+rid, []byte("{}"), nil); err != nil {
			return nil, err
		}
	}
	keys := []struct {
		id, body string
		out      *string
	}{
		{"enc", `{"purpose":"ENCRYPT_DECRYPT"}`, &f.encKey},
		{"enc-audit-off", `{"purpose":"ENCRYPT_DECRYPT"}`, &f.encKeyQuiet},
		{"ec-p256", `{"purpose":"ASYMMETRIC_SIGN","versionTemplate":{"algorithm":"EC_SIGN_P256_SHA256"}}`, &f.ecVersion},
		{"rsa-2048", `{"purpose":"ASYMMETRIC_SIGN","versionTemplate":{"algorithm":"RSA_SIGN_PKCS1_2048_SHA256"}}`, &f.rsaVersion},
		{"hmac", `{"purpose":"MAC","versionTemplate":{"algorithm":"HMAC_SHA256"}}`, &f.macVersion},
	}
	for _, k := range keys {
		if _, err := api.call(ctx, http.MethodPost, "/v1/"+f.ring+"/cryptoKeys?cryptoKeyId="+k.id, []byte(k.body), nil); err != nil {
			return nil, err
		}
		*k.out = f.ring + "/cryptoKeys/" + k.id
		if !strings.HasPrefix(k.id, "enc") {
			*k.out += "/cryptoKeyVersions/1"
			if err := waitEnabled(ctx, api, *k.out); err != nil {
				return nil, err
			}
		}
	}

	var err error
	if f.encToken, err = createApp(ctx, api, f.encApp); err != nil {
		return nil, err
	}
	if f.opsToken, err = createApp(ctx, api, f.opsApp); err != nil {
		return nil, err
	}
	enc, ops := "app:"+f.encApp, "app:"+f.opsApp
	policies := []struct{ res, role, member string }{
		{f.encKey, roleEncrypterDecrypter, enc},
		{f.encKeyQuiet, roleEncrypterDecrypter, enc},
		{keyOf(f.ecVersion), roleSignerVerifier, ops},
		{keyOf(f.rsaVersion), roleSignerVerifier, ops},
		{keyOf(f.macVersion), roleSignerVerifier, ops},
		{f.ring, roleViewer, ops},
		{f.createRing, roleAdmin, ops},
	}
	for _, p := range policies {
		if err := setPolicy(ctx, api, p.res, map[string][]string{p.role: {p.member}}); err != nil {
			return nil, err
		}
	}
	if withScale {
		if err := setPolicy(ctx, api, f.scaleRing, map[string][]string{
			roleEncrypterDecrypter: {enc}, roleViewer: {ops}, roleAdmin: {ops},
		}); err != nil {
			return nil, err
		}
	}
	// Data-access audit on: every use of the keys is recorded durably;
	// except on encKeyQuiet, for comparison.
	audit := map[string]bool{f.encKey: true, f.encKeyQuiet: false}
	for _, r := range rings {
		audit[r] = true
	}
	for r, on := range audit {
		if _, err := api.call(ctx, http.MethodPut, "/admin/v1/auditConfig/"+r, map[string]bool{"dataAccess": on}, nil); err != nil {
			return nil, err
		}
	}

	// The app encrypts: keep a ciphertext for Decrypt and the answer sizes
	// for the echo.
	app := &apiClient{base: api.base, token: f.encToken, client: api.client}
	var out struct {
		Ciphertext []byte `json:"ciphertext"`
	}
	f.encrypt32Size, err = retryDenied(ctx, func() (int, error) {
		return app.call(ctx, http.MethodPost, "/v1/"+f.encKey+":encrypt", b64Body("plaintext", f.plaintext32), &out)
	})
	if err != nil {
		return nil, fmt.Errorf("the app cannot encrypt: %w", err)
	}
	f.ciphertext32 = out.Ciphertext
	if f.encrypt4kSize, err = app.call(ctx, http.MethodPost, "/v1/"+f.encKey+":encrypt", b64Body("plaintext", f.plaintext4k), nil); err != nil {
		return nil, err
	}
	return f, nil
}

// cut is strings.Cut at the last sep.
func cut(s, sep string) (before, after string, ok bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

// keyOf returns the key of a version name.
func keyOf(version string) string {
	k, _, _ := cut(version, "/cryptoKeyVersions/")
	return k
}

// b64Body returns {"field":"<base64 of b>"}.
func b64Body(field string, b []byte) []byte {
	return []byte(`{"` + field + `":"` + base64.StdEncoding.EncodeToString(b) + `"}`)
}

// createApp creates an app in the bench project and an API key for it,
// and returns the key.
func createApp(ctx context.Context, api *apiClient, name string) (string, error) {
	if _, err := api.call(ctx, http.MethodPost, "/admin/v1/apps", map[string]string{"name": name, "project": benchProject}, nil); err != nil {
		return "", err
	}
	var key struct {
		APIKey string `json:"apiKey"`
	}
	if _, err := api.call(ctx, http.MethodPost, "/admin/v1/apps/"+name+"/keys", map[string]string{"format": "api-key"}, &key); err != nil {
		return "", err
	}
	if key.APIKey == "" {
		return "", fmt.Errorf("no apiKey in the answer to POST /admin/v1/apps/%s/keys", name)
	}
	return key.APIKey, nil
}

// setPolicy replaces the IAM policy of res with the bindings role →
// members.
func setPolicy(ctx context.Context, api *apiClient, res string, bindings map[string][]string) error {
	type binding struct {
		Role    string   `json:"role"`
		Members []string `json:"members"`
	}
	var p struct {
		Bindings []binding `json:"bindings"`
	}
	for role, members := range bindings {
		p.Bindings = append(p.Bindings, binding{Role: role, Members: members})
	}
	_, err := api.call(ctx, http.MethodPut, "/admin/v1/iam/"+res, p, nil)
	return err
}

// waitEnabled waits until a version is ENABLED (asymmetric material may be
// generated after the create returns).
func waitEnabled(ctx context.Context, api *apiClient, version string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		var v struct {
			State string `json:"state"`
		}
		if _, err := api.call(ctx, http.MethodGet, "/v1/"+version, nil, &v); err != nil {
			return err
		}
		if v.State == "ENABLED" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s is still %s after 30s", version, v.State)
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// retryDenied retries fn for a few seconds while it is denied, in case
// policies take effect after a moment.
func retryDenied(ctx context.Context, fn func() (int, error)) (int, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, err := fn()
		var ae *APIError
		if err == nil || !errors.As(err, &ae) || ae.Status != http.StatusForbidden || time.Now().After(deadline) {
			return n, err
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return n, ctx.Err()
		}
	}
}

// setupEKM adds what the Cloud EKM workloads need: a key ("ekm") with its
// external key URI, an app bound to a Cloud EKM service agent's email that
// holds roles/custos.ekmUser on it, an ID token for that email minted by
// iss for the server's audience (its origin), and one wrapped blob.
func setupEKM(ctx context.Context, api *apiClient, f *fixture, iss *issuer) error {
	if _, err := api.call(ctx, http.MethodPost, "/v1/"+f.ring+"/cryptoKeys?cryptoKeyId=ekm", []byte(`{"purpose":"ENCRYPT_DECRYPT"}`), nil); err != nil {
		return err
	}
	f.ekmKey = f.ring + "/cryptoKeys/ekm"
	var k struct {
		ExternalKeyURI string `json:"externalKeyUri"`
	}
	if _, err := api.call(ctx, http.MethodGet, "/v1/"+f.ekmKey, nil, &k); err != nil {
		return err
	}
	i := strings.Index(k.ExternalKeyURI, "/ekm/")
	if i < 0 {
		return fmt.Errorf("the key %s has no external key URI (got %q)", f.ekmKey, k.ExternalKeyURI)
	}
	f.ekmPath = k.ExternalKeyURI[i:]
	email := "bench-" + f.runID + "@gcp-sa-ekms.iam.gserviceaccount.com"
	f.ekmApp = "bench-" + f.runID + "-gcp"
	if _, err := api.call(ctx, http.MethodPost, "/admin/v1/apps", map[string]string{"name": f.ekmApp, "project": benchProject, "googleServiceAccount": email}, nil); err != nil {
		return err
	}
	if err := setPolicy(ctx, api, f.ekmKey, map[string][]string{roleEKMUser: {"app:" + f.ekmApp}}); err != nil {
		return err
	}
	if _, err := api.call(ctx, http.MethodPut, "/admin/v1/auditConfig/"+f.ekmKey, map[string]bool{"dataAccess": true}, nil); err != nil {
		return err
	}
	var err error
	if f.ekmToken, err = iss.token(email, api.base); err != nil {
		return err
	}
	gcp := &apiClient{base: api.base, token: f.ekmToken, client: api.client}
	var out struct {
		WrappedBlob string `json:"wrappedBlob"`
	}
	// The first call fetches the issuer's keys; allow a moment.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err = gcp.call(ctx, http.MethodPost, f.ekmPath+":wrap", ekmWrapBody(f.plaintext32), &out)
		var ae *APIError
		if err == nil || !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("Cloud EKM wrap: %w", err)
	}
	f.ekmBlob = out.WrappedBlob
	return nil
}

// ekmContext is the request context Cloud KMS sends: the Cloud KMS key
// version, and the access reason (a known one, which the default
// justification policy allows).
const ekmContext = `"additionalContext":{"fullResourceName":"//cloudkms.googleapis.com/projects/bench/locations/us/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1",` +
	`"relativeResourceName":"projects/bench/locations/us/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1","isKeyHealthCheck":false,` +
	`"accessReasonContext":{"reason":"CUSTOMER_INITIATED_ACCESS"}}`

// ekmWrapBody is a WrapRequest of a data key, as Cloud KMS sends it.
func ekmWrapBody(plaintext []byte) []byte {
	return []byte(`{"plaintext":"` + base64.StdEncoding.EncodeToString(plaintext) + `","additionalAuthenticatedData":"","keyPath":"bench",` + ekmContext + `}`)
}

// ekmUnwrapBody is an UnwrapRequest of blob.
func ekmUnwrapBody(blob string) []byte {
	return []byte(`{"wrappedBlob":"` + blob + `","additionalAuthenticatedData":"",` + ekmContext + `}`)
}
