// SPDX-License-Identifier: Apache-2.0

package auth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
)

func TestAPIKey(t *testing.T) {
	e := newEnv(t)
	e.createApp("billing", "acme")
	key, ak := e.apiKey("billing")
	if !strings.HasPrefix(key, APIKeyPrefix+ak.ID+"_") || len(key) != len(APIKeyPrefix)+40+1+43 || ak.Type != FormatAPIKey || ak.App != "billing" {
		t.Fatalf("CreateKey(api-key) = %d characters, %+v", len(key), ak)
	}
	c, err := e.authenticate(key)
	if err != nil {
		t.Fatalf("Authenticate(api key) = %v", err)
	}
	want := "&{Principal:app:billing AuthMethod:api-key Admin:false App:billing RequestID:req-1 ClientAddress:192.0.2.1:1234}"
	if got := fmt.Sprintf("%+v", c); got != want {
		t.Errorf("Authenticate(api key) = %s, want %s", got, want)
	}

	other, _ := e.apiKey("billing")
	for _, tc := range []struct{ name, token string }{
		{"wrong secret", key[:len(key)-1] + flip(key[len(key)-1])},
		{"secret of another key", key[:len(APIKeyPrefix)+41] + other[len(APIKeyPrefix)+41:]},
		{"unknown key id", APIKeyPrefix + strings.Repeat("0", 40) + "_" + key[len(APIKeyPrefix)+41:]},
		{"no secret", APIKeyPrefix + ak.ID},
		{"short key id", APIKeyPrefix + "abc_def"},
		{"upper-case key id", APIKeyPrefix + strings.ToUpper(ak.ID) + key[len(APIKeyPrefix)+40:]},
		{"prefix only", APIKeyPrefix},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.authenticate(tc.token)
			wantCode(t, "Authenticate", err, codes.Unauthenticated)
			if strings.Contains(err.Error(), tc.token) {
				t.Errorf("the error echoes the token")
			}
		})
	}

	revoked, err := e.apps.RevokeKey(e.ctx, "billing", ak.ID)
	if err != nil || !revoked.Revoked || !revoked.RevokeTime.Equal(e.clk.now()) {
		t.Fatalf("RevokeKey = %+v, %v", revoked, err)
	}
	_, err = e.authenticate(key)
	wantCode(t, "Authenticate(revoked api key)", err, codes.Unauthenticated)
	if !strings.Contains(err.Error(), "revoked") {
		t.Errorf("Authenticate(revoked api key) = %v, want a message saying it was revoked", err)
	}
	if _, err := e.authenticate(other); err != nil {
		t.Errorf("Authenticate(other key) after revoking the first = %v", err)
	}
	if again, err := e.apps.RevokeKey(e.ctx, "billing", ak.ID); err != nil || !again.RevokeTime.Equal(revoked.RevokeTime) {
		t.Errorf("RevokeKey again = %+v, %v", again, err)
	}
	e.createApp("other", "")
	for _, tc := range []struct{ app, id string }{{"other", ak.ID}, {"billing", "nothex"}, {"billing", strings.Repeat("a", 40)}} {
		_, err := e.apps.RevokeKey(e.ctx, tc.app, tc.id)
		wantCode(t, "RevokeKey("+tc.app+", "+tc.id+")", err, codes.NotFound)
	}
	_, err = e.apps.CreateKey(e.ctx, CreateKeyRequest{App: "billing", Format: "pgp"})
	wantCode(t, "CreateKey(pgp)", err, codes.InvalidArgument)
	_, err = e.apps.CreateKey(e.ctx, CreateKeyRequest{App: "billing", Format: FormatAPIKey, Certificate: []byte("x")})
	wantCode(t, "CreateKey(api-key, certificate)", err, codes.InvalidArgument)
	_, err = e.apps.CreateKey(e.ctx, CreateKeyRequest{App: "missing", Format: FormatAPIKey})
	wantCode(t, "CreateKey(missing app)", err, codes.NotFound)
}

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

func TestServiceAccountKeyFile(t *testing.T) {
	e := newEnv(t)
	app := e.createApp("billing", "acme-prod")
	nk, err := e.apps.CreateKey(e.ctx, CreateKeyRequest{App: "billing", Format: FormatGoogleJSON})
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(nk.Secret, &fields); err != nil {
		t.Fatalf("the key file is not JSON: %v", err)
	}
	var names []string
	for k := range fields {
		names = append(names, k)
	}
	sort.Strings(names)
	if got, want := fmt.Sprint(names), "[client_email client_id private_key private_key_id project_id token_uri type]"; got != want {
		t.Errorf("key file fields = %v, want %v", got, want)
	}
	for field, want := range map[string]string{
		"type":           "service_account",
		"project_id":     "acme-prod",
		"private_key_id": nk.Key.ID,
		"client_email":   "billing@apps.custos.local",
		"client_id":      app.UID,
		"token_uri":      testURL + "/oauth2/token",
	} {
		if fields[field] != want {
			t.Errorf("%s = %v, want %q", field, fields[field], want)
		}
	}
	block, rest := pem.Decode([]byte(fields["private_key"].(string)))
	if block == nil || block.Type != "PRIVATE KEY" || len(rest) != 0 {
		t.Fatalf("private_key is not one PEM PRIVATE KEY block")
	}
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatalf("private_key is not PKCS #8: %v", err)
	}
	rk, ok := priv.(*rsa.PrivateKey)
	if !ok || rk.N.BitLen() != 2048 || rk.E != 65537 {
		t.Fatalf("private_key is a %T, want RSA-2048", priv)
	}
	if err := rk.Validate(); err != nil {
		t.Fatal(err)
	}
	if nk.Key.Type != FormatGoogleJSON || nk.Key.ClientEmail != "billing@apps.custos.local" {
		t.Errorf("key = %+v", nk.Key)
	}

	// Only the public key is stored.
	rec, err := e.store.Get(context.Background(), keyRecordName(nk.Key.ID))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(rec.Data), "PRIVATE") {
		t.Errorf("the stored key record holds the private key")
	}
	var stored keyRecord
	json.Unmarshal(rec.Data, &stored)
	pub, err := x509.ParsePKIXPublicKey(stored.PublicKey)
	if err != nil || !rk.PublicKey.Equal(pub) {
		t.Errorf("the stored public key is not the file's: %v", err)
	}

	f, key, err := ParseServiceAccountKey(nk.Secret)
	if err != nil || !key.Equal(rk) || f.ClientEmail != "billing@apps.custos.local" {
		t.Errorf("ParseServiceAccountKey = %+v, %v", f, err)
	}

	// An app without a home project gets an empty project_id.
	e.createApp("loner", "")
	lf, _, _ := e.saKey("loner")
	if lf.ProjectID != "" {
		t.Errorf("project_id of an app without project = %q", lf.ProjectID)
	}
}

func TestParseServiceAccountKeyRefusals(t *testing.T) {
	e := newEnv(t)
	e.createApp("billing", "")
	_, _, file := e.saKey("billing")
	edit := func(field string, v any) []byte {
		var m map[string]any
		json.Unmarshal(file, &m)
		if v == nil {
			delete(m, field)
		} else {
			m[field] = v
		}
		b, _ := json.Marshal(m)
		return b
	}
	for _, tc := range []struct {
		name string
		file []byte
	}{
		{"not JSON", []byte("{")},
		{"wrong type", edit("type", "authorized_user")},
		{"no private_key_id", edit("private_key_id", nil)},
		{"no client_email", edit("client_email", nil)},
		{"no client_id", edit("client_id", nil)},
		{"token_uri not a URL", edit("token_uri", "file:///etc/passwd")},
		{"other universe", edit("universe_domain", "example.com")},
		{"private key not PEM", edit("private_key", "MIIE...")},
		{"private key PKCS #1", edit("private_key", pkcs1(t))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, k, err := ParseServiceAccountKey(tc.file)
			if err == nil || f != nil || k != nil {
				t.Fatalf("ParseServiceAccountKey = %v, want an error", err)
			}
			if strings.Contains(err.Error(), "MII") {
				t.Errorf("the error quotes the key: %v", err)
			}
		})
	}
	if _, _, err := ParseServiceAccountKey(edit("universe_domain", "googleapis.com")); err != nil {
		t.Errorf("universe_domain googleapis.com refused: %v", err)
	}
}

func pkcs1(t *testing.T) string {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}))
}

func TestListKeys(t *testing.T) {
	e := newEnv(t)
	e.createApp("billing", "")
	apiKey, ak := e.apiKey("billing")
	e.clk.add(time.Second)
	sa, _, _ := e.saKey("billing")
	e.clk.add(time.Second)
	certPEM, _ := clientCert(t, "billing-client", false, time.Now().Add(24*time.Hour))
	mk, err := e.apps.CreateKey(e.ctx, CreateKeyRequest{App: "billing", Format: FormatMTLS, Certificate: certPEM})
	if err != nil {
		t.Fatal(err)
	}
	e.apps.RevokeKey(e.ctx, "billing", ak.ID)

	keys, err := e.apps.ListKeys(e.ctx, "billing")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 3 || keys[0].ID != ak.ID || keys[1].ID != sa.PrivateKeyID || keys[2].ID != mk.Key.ID {
		t.Fatalf("ListKeys = %+v", keys)
	}
	if !keys[0].Revoked || keys[1].Revoked || keys[1].ClientEmail != sa.ClientEmail || keys[2].Fingerprint != mk.Key.Fingerprint || !strings.Contains(keys[2].Subject, "billing-client") {
		t.Errorf("ListKeys = %+v %+v %+v", keys[0], keys[1], keys[2])
	}
	if s := fmt.Sprintf("%+v %+v %+v", *keys[0], *keys[1], *keys[2]); strings.Contains(s, apiKey[len(APIKeyPrefix)+41:]) {
		t.Errorf("ListKeys shows a secret")
	}
	e.createApp("empty", "")
	if keys, err := e.apps.ListKeys(e.ctx, "empty"); err != nil || len(keys) != 0 {
		t.Errorf("ListKeys(empty) = %v, %v", keys, err)
	}
	_, err = e.apps.ListKeys(e.ctx, "missing")
	wantCode(t, "ListKeys(missing)", err, codes.NotFound)
}

func TestMTLS(t *testing.T) {
	e := newEnv(t)
	e.createApp("billing", "")
	e.createApp("other", "")
	certPEM, cert := clientCert(t, "billing-client", false, time.Now().Add(24*time.Hour))
	nk, err := e.apps.CreateKey(e.ctx, CreateKeyRequest{App: "billing", Format: FormatMTLS, Certificate: certPEM})
	if err != nil {
		t.Fatalf("CreateKey(mtls) = %v", err)
	}
	fp := sha256.Sum256(cert.Raw)
	if nk.Secret != nil || nk.Key.Fingerprint != hex.EncodeToString(fp[:]) || nk.Key.Type != FormatMTLS || !nk.Key.NotAfter.Equal(cert.NotAfter) {
		t.Errorf("CreateKey(mtls) = %+v", nk)
	}
	authCert := func(c *x509.Certificate, token string) (string, error) {
		caller, err := e.authn.Authenticate(context.Background(), Request{ClientCert: c, Token: token})
		if err != nil {
			return "", err
		}
		return caller.Principal + " " + caller.AuthMethod, nil
	}
	if got, err := authCert(cert, ""); err != nil || got != "app:billing mtls" {
		t.Fatalf("Authenticate(certificate) = %q, %v", got, err)
	}

	// A bearer token decides when there is one.
	otherKey, _ := e.apiKey("other")
	if got, err := authCert(cert, otherKey); err != nil || got != "app:other api-key" {
		t.Errorf("Authenticate(certificate, token) = %q, %v", got, err)
	}
	_, err = authCert(cert, "custos_ak_bad")
	wantCode(t, "Authenticate(certificate, bad token)", err, codes.Unauthenticated)

	_, stranger := clientCert(t, "stranger", false, time.Now().Add(time.Hour))
	_, err = authCert(stranger, "")
	wantCode(t, "Authenticate(unregistered certificate)", err, codes.Unauthenticated)

	_, err = e.apps.CreateKey(e.ctx, CreateKeyRequest{App: "other", Format: FormatMTLS, Certificate: certPEM})
	wantCode(t, "CreateKey(certificate registered elsewhere)", err, codes.AlreadyExists)

	if _, err := e.apps.RevokeKey(e.ctx, "billing", nk.Key.ID); err != nil {
		t.Fatal(err)
	}
	_, err = authCert(cert, "")
	wantCode(t, "Authenticate(revoked certificate)", err, codes.Unauthenticated)
	if !strings.Contains(err.Error(), "revoked") {
		t.Errorf("Authenticate(revoked certificate) = %v, want it to say revoked", err)
	}

	// Once revoked, the certificate may be registered again, to another app.
	if _, err := e.apps.CreateKey(e.ctx, CreateKeyRequest{App: "other", Format: FormatMTLS, Certificate: certPEM}); err != nil {
		t.Fatalf("CreateKey(re-register) = %v", err)
	}
	if got, err := authCert(cert, ""); err != nil || got != "app:other mtls" {
		t.Errorf("Authenticate(re-registered certificate) = %q, %v", got, err)
	}
	e.apps.DisableApp(e.ctx, "other")
	_, err = authCert(cert, "")
	wantCode(t, "Authenticate(certificate of a disabled app)", err, codes.Unauthenticated)
	e.apps.DeleteApp(e.ctx, "other")
	_, err = authCert(cert, "")
	wantCode(t, "Authenticate(certificate of a deleted app)", err, codes.Unauthenticated)

	caPEM, _ := clientCert(t, "ca", true, time.Now().Add(time.Hour))
	expiredPEM, _ := clientCert(t, "old", false, time.Now().Add(-time.Minute))
	for _, tc := range []struct {
		name string
		pem  []byte
	}{
		{"none", nil},
		{"not PEM", []byte("hello")},
		{"two certificates", append(append([]byte{}, certPEM...), certPEM...)},
		{"a key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}})},
		{"garbage DER", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2, 3}})},
		{"a CA", caPEM},
		{"expired", expiredPEM},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.apps.CreateKey(e.ctx, CreateKeyRequest{App: "billing", Format: FormatMTLS, Certificate: tc.pem})
			wantCode(t, "CreateKey(mtls)", err, codes.InvalidArgument)
		})
	}
}

// TestRevocationUnderLoad: once RevokeKey returns, no authentication that
// starts afterwards succeeds, however many run concurrently (the cache may
// not re-learn the old state from a read that raced the revocation).
func TestRevocationUnderLoad(t *testing.T) {
	e := newEnv(t)
	e.createApp("billing", "")
	key, ak := e.apiKey("billing")
	var revoked atomic.Bool
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				after := revoked.Load()
				_, err := e.authenticate(key)
				if after && err == nil {
					t.Error("Authenticate succeeded after RevokeKey returned")
					return
				}
				// Drop the cache now and then, so that reads race the write.
				e.apps.cache.entries.Remove(keyRecordName(ak.ID))
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	if _, err := e.apps.RevokeKey(e.ctx, "billing", ak.ID); err != nil {
		t.Fatal(err)
	}
	revoked.Store(true)
	time.Sleep(20 * time.Millisecond)
	close(stop)
	wg.Wait()
}

// TestMTLSExpiredCertificate: a certificate is verified by the TLS layer
// only when a connection is set up, and a gRPC or HTTP/2 connection may
// live for days: once the certificate has expired, its calls are refused
// even on a connection opened while it was valid.
func TestMTLSExpiredCertificate(t *testing.T) {
	e := newEnv(t)
	e.createApp("billing", "")
	certPEM, cert := clientCert(t, "billing-client", false, e.clk.now().Add(time.Hour))
	if _, err := e.apps.CreateKey(e.ctx, CreateKeyRequest{App: "billing", Format: FormatMTLS, Certificate: certPEM}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.authn.Authenticate(context.Background(), Request{ClientCert: cert}); err != nil {
		t.Fatalf("Authenticate(valid certificate) = %v", err)
	}
	e.clk.add(time.Hour + time.Second)
	_, err := e.authn.Authenticate(context.Background(), Request{ClientCert: cert})
	wantCode(t, "Authenticate(expired certificate)", err, codes.Unauthenticated)
}
