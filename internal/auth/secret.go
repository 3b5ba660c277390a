// SPDX-License-Identifier: Apache-2.0

package auth

import "log/slog"

// Secret is a credential handed out once: an API key, or a service-account
// key file with its private key. It redacts itself when formatted with the
// fmt verbs, logged with slog or marshaled to JSON, so that it cannot leak
// by accident; write it out with string(s) or []byte(s), deliberately.
type Secret []byte

const redacted = "[REDACTED]"

// String implements fmt.Stringer: it never returns the secret.
func (Secret) String() string { return redacted }

// GoString implements fmt.GoStringer: it never returns the secret.
func (Secret) GoString() string { return redacted }

// LogValue implements slog.LogValuer: it never returns the secret.
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON never returns the secret.
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }
