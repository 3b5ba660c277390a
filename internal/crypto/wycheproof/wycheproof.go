// SPDX-License-Identifier: Apache-2.0

// Package wycheproof loads the [Wycheproof] test vectors that the
// internal/crypto packages run in their tests.
//
// The vectors live outside the module, in shared/testdata/wycheproof beside
// the repository checkout. [Path] finds that folder relative to the test's
// working directory (the package directory), so the same tests run in any
// clone that has shared/ beside it; nothing here uses an absolute path.
//
// # Use
//
// A test declares the group and vector shapes of its file's schema, embedding
// [Vector] in the vector type, and loads it with [Load]:
//
//	var f wycheproof.File[group]
//	wycheproof.Load(t, "aes_gcm_test.json", &f)
//	n := 0
//	for _, g := range f.TestGroups {
//		for _, v := range g.Tests {
//			n++
//			t.Run(v.Name(), func(t *testing.T) { ... })
//		}
//	}
//	f.CheckCount(t, n)
//
// This package is test support: production code must not import it.
//
// [Wycheproof]: https://github.com/C2SP/wycheproof
package wycheproof

import (
	"crypto"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Dir is the vector folder relative to the repository's parent directory.
const Dir = "shared/testdata/wycheproof"

// maxDepth bounds the walk up from the working directory in [Path].
const maxDepth = 8

// Path returns the relative path, from the current working directory, of the
// vector file named file, e.g. "../../../../shared/testdata/wycheproof/FILE"
// from a package directory internal/crypto/X. It walks up from the working
// directory to the module root (the first directory holding go.mod) and
// steps one level above it, where shared/ sits beside the checkout. Path
// returns an error if no go.mod is found within a few levels.
func Path(file string) (string, error) {
	up := "."
	for range maxDepth {
		if _, err := os.Stat(filepath.Join(up, "go.mod")); err == nil {
			return filepath.Join(up, "..", Dir, file), nil
		}
		up = filepath.Join(up, "..")
	}
	return "", errors.New("wycheproof: module root (go.mod) not found above the working directory")
}

// Load reads the vector file named file (see [Path]) and decodes its JSON
// into v. It stops the test with t.Fatal if the file is missing or does not
// decode.
func Load(t testing.TB, file string, v any) {
	t.Helper()
	p, err := Path(file)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("wycheproof: %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("wycheproof: decoding %s: %v", file, err)
	}
}

// File is the outer shape shared by every Wycheproof vector file; G is the
// test group type of the file's schema.
type File[G any] struct {
	Algorithm     string `json:"algorithm"`
	Schema        string `json:"schema"`
	NumberOfTests int    `json:"numberOfTests"`
	TestGroups    []G    `json:"testGroups"`
}

// CheckCount logs n, the number of vectors a test ran, and fails the test
// unless it equals the numberOfTests the file declares.
func (f *File[G]) CheckCount(t testing.TB, n int) {
	t.Helper()
	t.Logf("%d vectors (%s, numberOfTests %d)", n, f.Algorithm, f.NumberOfTests)
	if n != f.NumberOfTests {
		t.Errorf("ran %d vectors, file declares numberOfTests = %d", n, f.NumberOfTests)
	}
}

// Result is a vector's expected outcome.
type Result string

// The outcomes a vector can expect.
const (
	// Valid vectors must be accepted.
	Valid Result = "valid"
	// Invalid vectors must be rejected.
	Invalid Result = "invalid"
	// Acceptable vectors may be accepted or rejected, but must not crash.
	Acceptable Result = "acceptable"
)

// Vector holds the fields every vector has; embed it in a schema's vector
// type.
type Vector struct {
	TcID    int      `json:"tcId"`
	Comment string   `json:"comment"`
	Flags   []string `json:"flags"`
	Result  Result   `json:"result"`
}

// Name returns "tcId N: comment", the subtest name for the vector.
func (v *Vector) Name() string {
	if v.Comment == "" {
		return fmt.Sprintf("tcId %d", v.TcID)
	}
	return fmt.Sprintf("tcId %d: %s", v.TcID, v.Comment)
}

// Check reports the error, if any, of a vector whose operation returned
// accepted: a valid vector must be accepted and an invalid one rejected; an
// acceptable one may go either way. detail is appended to the message.
func (v *Vector) Check(t testing.TB, accepted bool, detail string) {
	t.Helper()
	switch v.Result {
	case Valid:
		if !accepted {
			t.Errorf("tcId %d (valid, flags %v): rejected: %s", v.TcID, v.Flags, detail)
		}
	case Invalid:
		if accepted {
			t.Errorf("tcId %d (invalid, flags %v): accepted: %s", v.TcID, v.Flags, detail)
		}
	case Acceptable:
		t.Logf("tcId %d (acceptable, flags %v): accepted = %v", v.TcID, v.Flags, accepted)
	default:
		t.Errorf("tcId %d: unknown result %q", v.TcID, v.Result)
	}
}

// Hex is a byte string that decodes from a JSON hex string.
type Hex []byte

// UnmarshalJSON decodes a hex string; it returns an error for anything else.
func (h *Hex) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	d, err := hex.DecodeString(s)
	if err != nil {
		return fmt.Errorf("wycheproof: bad hex: %w", err)
	}
	*h = d
	return nil
}

// Hash returns the hash function a file names in its "sha" or "mgfSha"
// field, such as "SHA-256"; it returns an error for a name it does not know.
func Hash(name string) (crypto.Hash, error) {
	switch name {
	case "SHA-1":
		return crypto.SHA1, nil
	case "SHA-224":
		return crypto.SHA224, nil
	case "SHA-256":
		return crypto.SHA256, nil
	case "SHA-384":
		return crypto.SHA384, nil
	case "SHA-512":
		return crypto.SHA512, nil
	}
	return 0, fmt.Errorf("wycheproof: unknown hash %q", name)
}
