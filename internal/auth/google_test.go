// SPDX-License-Identifier: Apache-2.0

package auth

import (
	"context"
	"testing"

	"cloud.google.com/go/auth/credentials"
)

// TestOfficialClientSelfSignedJWT: the official Go auth library, given the
// key file, signs its own JWT (as the Cloud KMS clients do over gRPC), and
// Custos accepts it, with scopes or with an audience.
func TestOfficialClientSelfSignedJWT(t *testing.T) {
	e := newEnv(t)
	e.createApp("billing", "acme")
	_, _, file := e.saKey("billing")
	for _, tc := range []struct {
		name string
		opts credentials.DetectOptions
	}{
		{"cloudkms scope", credentials.DetectOptions{Scopes: []string{"https://www.googleapis.com/auth/cloudkms"}}},
		{"the Cloud KMS client's default scopes", credentials.DetectOptions{Scopes: []string{
			"https://www.googleapis.com/auth/cloud-platform", "https://www.googleapis.com/auth/cloudkms"}}},
		{"audience of Cloud KMS", credentials.DetectOptions{Audience: "https://cloudkms.googleapis.com/"}},
		{"audience of this server", credentials.DetectOptions{Audience: testURL + "/"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			opts.CredentialsJSON = file
			opts.UseSelfSignedJWT = true
			creds, err := credentials.DetectDefault(&opts)
			if err != nil {
				t.Fatalf("DetectDefault = %v", err)
			}
			if pid, _ := creds.ProjectID(context.Background()); pid != "acme" {
				t.Errorf("ProjectID = %q, want acme", pid)
			}
			if ud, _ := creds.UniverseDomain(context.Background()); ud != "googleapis.com" {
				t.Errorf("UniverseDomain = %q, want googleapis.com (the clients refuse a custom endpoint otherwise)", ud)
			}
			tok, err := creds.Token(context.Background())
			if err != nil {
				t.Fatalf("Token = %v", err)
			}
			c, err := e.authenticate(tok.Value)
			if err != nil {
				t.Fatalf("Authenticate(self-signed JWT of the official library) = %v", err)
			}
			if c.Principal != "app:billing" || c.AuthMethod != MethodServiceAccountJWT {
				t.Errorf("Authenticate = %+v", c)
			}
		})
	}
}
