// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"context"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"

	"cloud.google.com/go/kms/apiv1/kmspb"
)

// Ceilings a workload is compared with.
const (
	ceilEcho32 = "echo-32"    // the bare echo, 32-byte Encrypt sized
	ceilEcho4k = "echo-4k"    // the bare echo, 4 KiB Encrypt sized
	ceilEC     = rawECDSAP256 // raw signing rate
	ceilRSA    = rawRSA2048   // raw signing rate
)

// workload is one kind of request, over REST and over gRPC (grpc is nil
// for the REST-only Cloud EKM protocol). Each builder returns the Op of
// worker w.
type workload struct {
	name  string
	about string
	// ceiling names the ceiling the figure is compared with: the echo of
	// the same transport and size, or a raw crypto rate.
	ceiling string
	rest    func(f *fixture, t *restTarget, w int) Op
	grpc    func(f *fixture, t *grpcTarget, w int) Op
}

// Workload names.
const (
	wEncrypt32 = "encrypt-32"
	// wEncrypt32Quiet is Encrypt with data-access audit off: a diagnostic.
	wEncrypt32Quiet = "encrypt-32-audit-off"
	wEncrypt4k      = "encrypt-4k"
	wDecrypt32      = "decrypt-32"
	wSignEC         = "sign-ec-p256"
	wSignRSA        = "sign-rsa-2048"
	wMACSign        = "mac-sign"
	wGetKey         = "get-key"
	wCreateKey      = "create-key"
	wMixed          = "mixed"
	wEKMWrap        = "ekm-wrap"
	wEKMUnwrap      = "ekm-unwrap"
)

// workloads is every workload, in the order of the report.
var workloads = []*workload{
	{
		name: wEncrypt32, about: "Encrypt 32 B as the app (cryptoKeyEncrypterDecrypter only), data-access audit on",
		ceiling: ceilEcho32,
		rest: func(f *fixture, t *restTarget, w int) Op {
			return encryptCall(f, f.plaintext32).op(t)
		},
		grpc: func(f *fixture, t *grpcTarget, w int) Op { return grpcEncrypt(f, t.client(w), f.plaintext32) },
	},
	{
		name: wEncrypt32Quiet, about: "Encrypt 32 B as the app on a key with data-access audit OFF: the same call without its durable audit entry, to tell that cost apart",
		ceiling: ceilEcho32,
		rest: func(f *fixture, t *restTarget, w int) Op {
			c := encryptCall(f, f.plaintext32)
			c.path = "/v1/" + f.encKeyQuiet + ":encrypt"
			return c.op(t)
		},
		grpc: func(f *fixture, t *grpcTarget, w int) Op {
			c, cred := t.client(w), newBearer(f.encToken)
			req := &kmspb.EncryptRequest{Name: f.encKeyQuiet, Plaintext: f.plaintext32}
			return func(ctx context.Context) error {
				resp, err := c.Encrypt(ctx, req, cred)
				return checkGRPC(err, resp != nil && len(resp.Ciphertext) > 32)
			}
		},
	},
	{
		name: wEncrypt4k, about: "Encrypt 4 KiB as the app, data-access audit on",
		ceiling: ceilEcho4k,
		rest: func(f *fixture, t *restTarget, w int) Op {
			return encryptCall(f, f.plaintext4k).op(t)
		},
		grpc: func(f *fixture, t *grpcTarget, w int) Op { return grpcEncrypt(f, t.client(w), f.plaintext4k) },
	},
	{
		name: wEKMWrap, about: "Cloud EKM wrap of a 32 B data key: Google-style ID token (verified once, then cached), justification checked, roles/custos.ekmUser; always audited",
		ceiling: ceilEcho32,
		rest: func(f *fixture, t *restTarget, w int) Op {
			return restCall{method: http.MethodPost, path: f.ekmPath + ":wrap", body: ekmWrapBody(f.plaintext32),
				token: f.ekmToken, want: []byte(`"wrappedBlob"`)}.op(t)
		},
	},
	{
		name: wEKMUnwrap, about: "Cloud EKM unwrap of a 32 B data key, as wrap",
		ceiling: ceilEcho32,
		rest: func(f *fixture, t *restTarget, w int) Op {
			return restCall{method: http.MethodPost, path: f.ekmPath + ":unwrap", body: ekmUnwrapBody(f.ekmBlob),
				token: f.ekmToken, want: []byte(`"plaintext"`)}.op(t)
		},
	},
	{
		name: wDecrypt32, about: "Decrypt a 32 B Encrypt as the app, data-access audit on",
		ceiling: ceilEcho32,
		rest:    func(f *fixture, t *restTarget, w int) Op { return decryptCall(f).op(t) },
		grpc:    func(f *fixture, t *grpcTarget, w int) Op { return grpcDecrypt(f, t.client(w)) },
	},
	{
		name: wSignEC, about: "AsymmetricSign EC_SIGN_P256_SHA256 (a SHA-256 digest)",
		ceiling: ceilEC,
		rest:    func(f *fixture, t *restTarget, w int) Op { return signCall(f, f.ecVersion).op(t) },
		grpc:    func(f *fixture, t *grpcTarget, w int) Op { return grpcSign(f, t.client(w), f.ecVersion) },
	},
	{
		name: wSignRSA, about: "AsymmetricSign RSA_SIGN_PKCS1_2048_SHA256 (a SHA-256 digest)",
		ceiling: ceilRSA,
		rest:    func(f *fixture, t *restTarget, w int) Op { return signCall(f, f.rsaVersion).op(t) },
		grpc:    func(f *fixture, t *grpcTarget, w int) Op { return grpcSign(f, t.client(w), f.rsaVersion) },
	},
	{
		name: wMACSign, about: "MacSign HMAC_SHA256 of 32 B",
		ceiling: ceilEcho32,
		rest: func(f *fixture, t *restTarget, w int) Op {
			return restCall{method: http.MethodPost, path: "/v1/" + f.macVersion + ":macSign",
				body: b64Body("data", f.plaintext32), token: f.opsToken, want: []byte(`"mac"`)}.op(t)
		},
		grpc: func(f *fixture, t *grpcTarget, w int) Op {
			c, cred := t.client(w), newBearer(f.opsToken)
			req := &kmspb.MacSignRequest{Name: f.macVersion, Data: f.plaintext32}
			return func(ctx context.Context) error {
				resp, err := c.MacSign(ctx, req, cred)
				return checkGRPC(err, resp != nil && len(resp.Mac) == 32)
			}
		},
	},
	{
		name: wGetKey, about: "GetCryptoKey (viewer on the key ring)",
		ceiling: ceilEcho32,
		rest: func(f *fixture, t *restTarget, w int) Op {
			return getKeyCall(f.encKey, f.opsToken).op(t)
		},
		grpc: func(f *fixture, t *grpcTarget, w int) Op { return grpcGetKey(t.client(w), f.encKey, f.opsToken) },
	},
	{
		name: wCreateKey, about: "CreateCryptoKey ENCRYPT_DECRYPT with its first version (durable)",
		ceiling: ceilEcho32,
		rest: func(f *fixture, t *restTarget, w int) Op {
			return createKeyCall(f, f.createRing, f.opsToken).op(t)
		},
		grpc: func(f *fixture, t *grpcTarget, w int) Op { return grpcCreateKey(f, t.client(w), f.createRing) },
	},
	{
		name: wMixed, about: "90% Encrypt/Decrypt 32 B as the app, 10% admin reads (GetCryptoKey, ListCryptoKeyVersions) as the admin",
		ceiling: ceilEcho32,
		rest: func(f *fixture, t *restTarget, w int) Op {
			return mix(w, []int{45, 45, 5, 5}, []Op{
				encryptCall(f, f.plaintext32).op(t),
				decryptCall(f).op(t),
				getKeyCall(f.encKey, f.adminToken).op(t),
				restCall{method: http.MethodGet, path: "/v1/" + f.encKey + "/cryptoKeyVersions", token: f.adminToken, want: []byte(`"cryptoKeyVersions"`)}.op(t),
			})
		},
		grpc: func(f *fixture, t *grpcTarget, w int) Op {
			c, cred := t.client(w), newBearer(f.adminToken)
			list := &kmspb.ListCryptoKeyVersionsRequest{Parent: f.encKey}
			return mix(w, []int{45, 45, 5, 5}, []Op{
				grpcEncrypt(f, c, f.plaintext32),
				grpcDecrypt(f, c),
				grpcGetKey(c, f.encKey, f.adminToken),
				func(ctx context.Context) error {
					resp, err := c.ListCryptoKeyVersions(ctx, list, cred)
					return checkGRPC(err, resp != nil && len(resp.CryptoKeyVersions) > 0)
				},
			})
		},
	},
}

// lookupWorkloads resolves a list of names ("all" for every workload).
func lookupWorkloads(names []string) ([]*workload, error) {
	if len(names) == 0 || slices.Contains(names, "all") {
		return workloads, nil
	}
	var out []*workload
	for _, n := range names {
		i := slices.IndexFunc(workloads, func(w *workload) bool { return w.name == n })
		if i < 0 {
			return nil, fmt.Errorf("unknown workload %q; want one of %s or all", n, strings.Join(WorkloadNames(), ", "))
		}
		out = append(out, workloads[i])
	}
	return out, nil
}

// WorkloadNames returns the names of the workloads, in report order.
func WorkloadNames() []string {
	var out []string
	for _, w := range workloads {
		out = append(out, w.name)
	}
	return out
}

// mix returns an Op that picks one of ops at random with the given
// weights (worker w seeds its own generator).
func mix(w int, weights []int, ops []Op) Op {
	total := 0
	for _, x := range weights {
		total += x
	}
	r := rand.New(rand.NewPCG(uint64(w)+1, 0x5eed))
	return func(ctx context.Context) error {
		n := r.IntN(total)
		for i, x := range weights {
			if n < x {
				return ops[i](ctx)
			}
			n -= x
		}
		return ops[len(ops)-1](ctx)
	}
}

func encryptCall(f *fixture, plaintext []byte) restCall {
	return restCall{method: http.MethodPost, path: "/v1/" + f.encKey + ":encrypt",
		body: b64Body("plaintext", plaintext), token: f.encToken, want: []byte(`"ciphertext"`)}
}

func decryptCall(f *fixture) restCall {
	return restCall{method: http.MethodPost, path: "/v1/" + f.encKey + ":decrypt",
		body: b64Body("ciphertext", f.ciphertext32), token: f.encToken, want: []byte(`"plaintext"`)}
}

func signCall(f *fixture, version string) restCall {
	body := []byte(`{"digest":{"sha256":"` + base64.StdEncoding.EncodeToString(f.digest) + `"}}`)
	return restCall{method: http.MethodPost, path: "/v1/" + version + ":asymmetricSign",
		body: body, token: f.opsToken, want: []byte(`"signature"`)}
}

func getKeyCall(key, token string) restCall {
	return restCall{method: http.MethodGet, path: "/v1/" + key, token: token, want: []byte(`"name"`)}
}

// createKeyCall creates a new key in ring per request, named k<n> from a
// counter of the fixture.
func createKeyCall(f *fixture, ring, token string) restCall {
	return restCall{
		method: http.MethodPost,
		pathFn: func() string {
			return fmt.Sprintf("/v1/%s/cryptoKeys?cryptoKeyId=k%d", ring, f.nextKey())
		},
		body: []byte(`{"purpose":"ENCRYPT_DECRYPT"}`), token: token, want: []byte(`"name"`),
	}
}

func grpcEncrypt(f *fixture, c kmspb.KeyManagementServiceClient, plaintext []byte) Op {
	req := &kmspb.EncryptRequest{Name: f.encKey, Plaintext: plaintext}
	cred := newBearer(f.encToken)
	return func(ctx context.Context) error {
		resp, err := c.Encrypt(ctx, req, cred)
		return checkGRPC(err, resp != nil && len(resp.Ciphertext) > len(plaintext))
	}
}

func grpcDecrypt(f *fixture, c kmspb.KeyManagementServiceClient) Op {
	req := &kmspb.DecryptRequest{Name: f.encKey, Ciphertext: f.ciphertext32}
	cred := newBearer(f.encToken)
	return func(ctx context.Context) error {
		resp, err := c.Decrypt(ctx, req, cred)
		return checkGRPC(err, resp != nil && len(resp.Plaintext) == len(f.plaintext32))
	}
}

func grpcSign(f *fixture, c kmspb.KeyManagementServiceClient, version string) Op {
	req := &kmspb.AsymmetricSignRequest{Name: version, Digest: &kmspb.Digest{Digest: &kmspb.Digest_Sha256{Sha256: f.digest}}}
	cred := newBearer(f.opsToken)
	return func(ctx context.Context) error {
		resp, err := c.AsymmetricSign(ctx, req, cred)
		return checkGRPC(err, resp != nil && len(resp.Signature) > 0)
	}
}

func grpcGetKey(c kmspb.KeyManagementServiceClient, key, token string) Op {
	req := &kmspb.GetCryptoKeyRequest{Name: key}
	cred := newBearer(token)
	return func(ctx context.Context) error {
		resp, err := c.GetCryptoKey(ctx, req, cred)
		return checkGRPC(err, resp != nil && resp.Name == key)
	}
}

func grpcCreateKey(f *fixture, c kmspb.KeyManagementServiceClient, ring string) Op {
	cred := newBearer(f.opsToken)
	return func(ctx context.Context) error {
		req := &kmspb.CreateCryptoKeyRequest{
			Parent:      ring,
			CryptoKeyId: fmt.Sprintf("k%d", f.nextKey()),
			CryptoKey:   &kmspb.CryptoKey{Purpose: kmspb.CryptoKey_ENCRYPT_DECRYPT},
		}
		resp, err := c.CreateCryptoKey(ctx, req, cred)
		return checkGRPC(err, resp != nil && resp.Name != "")
	}
}

// checkGRPC turns a call's outcome into an Op's error.
func checkGRPC(err error, ok bool) error {
	if err != nil {
		return err
	}
	if !ok {
		return errCheck
	}
	return nil
}

// isEKM reports whether the workload needs the Cloud EKM setup.
func (w *workload) isEKM() bool { return w.name == wEKMWrap || w.name == wEKMUnwrap }
