// SPDX-License-Identifier: Apache-2.0

package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
)

func TestAdminToken(t *testing.T) {
	tok, err := NewAdminToken()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, AdminTokenPrefix) || len(tok) != len(AdminTokenPrefix)+43 {
		t.Fatalf("NewAdminToken() = a token of %d characters, want %s + 43", len(tok), AdminTokenPrefix)
	}
	e := newEnv(t)
	for _, tc := range []struct {
		name  string
		authn *Authenticator
		token string
	}{
		{"New: generated token", New(tok), tok},
		{"New: token of any shape", New("s3cret"), "s3cret"},
		{"New: JWT-shaped token", New("a.b.c"), "a.b.c"},
		{"NewWithApps: generated token", NewWithApps(tok, e.apps), tok},
		{"NewWithApps: token of any shape", NewWithApps("custos_ak_whatever", e.apps), "custos_ak_whatever"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.authn.Authenticate(context.Background(), Request{Token: tc.token, ClientAddr: "a", RequestID: "r"})
			if err != nil {
				t.Fatalf("Authenticate = %v", err)
			}
			if c.Principal != AdminPrincipal || !c.Admin || c.AuthMethod != MethodAdminToken || c.ClientAddress != "a" || c.RequestID != "r" || c.App != "" {
				t.Errorf("Authenticate = %+v, want the admin", c)
			}
		})
	}
	for _, tc := range []struct {
		name  string
		authn *Authenticator
		req   Request
	}{
		{"New: no credential", New(tok), Request{}},
		{"New: wrong token", New(tok), Request{Token: tok + "x"}},
		{"New: certificate only", New(tok), Request{ClientCert: nil}},
		{"NewWithApps: no credential", NewWithApps(tok, e.apps), Request{}},
		{"NewWithApps: wrong admin token", NewWithApps(tok, e.apps), Request{Token: AdminTokenPrefix + "nope"}},
		{"NewWithApps: unknown shape", NewWithApps(tok, e.apps), Request{Token: "hello"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.authn.Authenticate(context.Background(), tc.req)
			wantCode(t, "Authenticate", err, codes.Unauthenticated)
			if tc.req.Token != "" && strings.Contains(err.Error(), tc.req.Token) {
				t.Errorf("the error %q echoes the token", err)
			}
		})
	}
}

func TestSecretRedacts(t *testing.T) {
	s := Secret("custos_ak_topsecret")
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "secret", s)
	j, _ := json.Marshal(struct{ S Secret }{s})
	for _, out := range []string{
		fmt.Sprint(s), fmt.Sprintf("%v %s %+v %#v %q", s, s, s, s, s),
		fmt.Sprintf("%v", &NewKey{Secret: s}), fmt.Sprintf("%+v", NewKey{Secret: s}),
		string(j), logged.String(),
	} {
		if strings.Contains(out, "topsecret") {
			t.Errorf("formatted secret %q shows the secret", out)
		}
	}
	if string(s) != "custos_ak_topsecret" {
		t.Errorf("string(s) = %q", string(s))
	}
}
