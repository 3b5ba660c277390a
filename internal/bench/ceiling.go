// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Raw crypto rates: the cost of the primitive alone, measured in process
// with one goroutine per core while nothing else runs. The same Go
// standard library code is what the server calls.
const (
	rawAESGCMSeal32 = "raw-aes-256-gcm-seal-32"
	rawHMACSHA256   = "raw-hmac-sha256-32"
	rawECDSAP256    = "raw-ecdsa-p256-sign"
	rawRSA2048      = "raw-rsa-2048-pkcs1-sign"
)

// RawResult is the rate of one primitive.
type RawResult struct {
	Name string `json:"name"`
	// OpsPerSecond is the total over Goroutines parallel loops, one per
	// core: the ceiling the server's figure is compared with.
	OpsPerSecond float64 `json:"opsPerSecond"`
	// PerCore is OpsPerSecond / Goroutines.
	PerCore    float64 `json:"opsPerSecondPerCore"`
	Goroutines int     `json:"goroutines"`
	// OneCore is the rate of a single loop; OneCore × Goroutines is what
	// the cores would do if they scaled perfectly (they may not: two
	// vCPUs can share a physical core, and other processes the machine).
	OneCore float64 `json:"opsPerSecondOneLoop"`
	Seconds float64 `json:"seconds"`
}

// rawOps builds, for each primitive, a function doing one operation.
// Each loop gets its own instance (no shared state).
func rawOps() (map[string]func() func(), error) {
	aesKey := make([]byte, 32)
	rand.Read(aesKey)
	block, err := aes.NewCipher(aesKey)
	if err != nil {
		return nil, err
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	digest := sha256.Sum256([]byte("custos bench"))
	msg := make([]byte, 32)
	return map[string]func() func(){
		rawAESGCMSeal32: func() func() {
			g, _ := cipher.NewGCMWithRandomNonce(block)
			dst := make([]byte, 0, 128)
			return func() { dst = g.Seal(dst[:0], nil, msg, nil) }
		},
		rawHMACSHA256: func() func() {
			h := hmac.New(sha256.New, aesKey)
			sum := make([]byte, 0, 32)
			return func() { h.Reset(); h.Write(msg); sum = h.Sum(sum[:0]) }
		},
		rawECDSAP256: func() func() {
			return func() { ec.Sign(rand.Reader, digest[:], crypto.SHA256) }
		},
		rawRSA2048: func() func() {
			return func() { rk.Sign(rand.Reader, digest[:], crypto.SHA256) }
		},
	}, nil
}

// RawCrypto measures each primitive for d with runtime.GOMAXPROCS(0)
// parallel loops, then for d with one loop.
func RawCrypto(d time.Duration) ([]RawResult, error) {
	ops, err := rawOps()
	if err != nil {
		return nil, err
	}
	n := runtime.GOMAXPROCS(0)
	var out []RawResult
	for _, name := range []string{rawAESGCMSeal32, rawHMACSHA256, rawECDSAP256, rawRSA2048} {
		total, el := rawLoops(ops[name], n, d)
		r := RawResult{Name: name, Goroutines: n, Seconds: el, OpsPerSecond: total / el}
		r.PerCore = r.OpsPerSecond / float64(n)
		one, el1 := rawLoops(ops[name], 1, d)
		r.OneCore = one / el1
		out = append(out, r)
	}
	return out, nil
}

// rawLoops runs n loops of the operation made by newOp for about d and
// returns the operations done and the seconds taken.
func rawLoops(newOp func() func(), n int, d time.Duration) (float64, float64) {
	var total atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	start := time.Now()
	for range n {
		wg.Add(1)
		op := newOp()
		go func() {
			defer wg.Done()
			var c int64
			for !stop.Load() {
				for range 16 {
					op()
				}
				c += 16
			}
			total.Add(c)
		}()
	}
	time.Sleep(d)
	stop.Store(true)
	wg.Wait()
	return float64(total.Load()), time.Since(start).Seconds()
}
