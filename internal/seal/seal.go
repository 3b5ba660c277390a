// SPDX-License-Identifier: Apache-2.0

// Package seal defines where Custos's root key comes from. The root key wraps
// the barrier keys, which wrap every key version's material; whoever holds it
// can read every key, so each provider keeps it as well as its medium allows.
//
// Providers live in sub-packages named by technology: [devfile] for
// development (a plain file), later Shamir shares and HSMs.
package seal

import (
	"context"
	"errors"
)

// RootKeySize is the size of the root key in bytes (AES-256).
const RootKeySize = 32

// ErrSealed means the provider cannot hand out the root key yet.
var ErrSealed = errors.New("seal: sealed")

// Provider yields the root key. The returned slice must be kept secret and
// never logged; callers copy what they need and do not retain it longer.
type Provider interface {
	RootKey(ctx context.Context) ([]byte, error)
}
