// SPDX-License-Identifier: Apache-2.0

// Package jwtsign mints signed JWTs as Google's ID token issuer and the
// Google client libraries send them: for the benchmark's stand-in issuer,
// and for the tests that play those parts.
package jwtsign

import (
	"encoding/json"

	jose "github.com/go-jose/go-jose/v4"
)

// Sign returns the compact JWS of claims (any value encoding/json
// encodes) signed by key with alg, with typ "JWT" in the header, and kid
// when it is not empty.
func Sign(alg jose.SignatureAlgorithm, key any, kid string, claims any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), kid)
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		return "", err
	}
	obj, err := sig.Sign(payload)
	if err != nil {
		return "", err
	}
	return obj.CompactSerialize()
}
