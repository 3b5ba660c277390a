// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"time"

	"cloud.google.com/go/kms/apiv1/kmspb"
)

// scale measures a large store, in the standard run:
//
//  1. create ScaleSmallKeys keys in the scale ring (concurrent
//     CreateCryptoKey over gRPC, as any client would);
//  2. restart the server: start-up time, and memory at rest;
//  3. Encrypt and GetCryptoKey on those keys, at random (REST);
//  4. create keys up to ScaleKeys the same way (the CreateCryptoKey rate
//     on a growing store), reading the memory before and after;
//  5. restart: start-up time and memory at rest with the large store;
//  6. the same Encrypt and GetCryptoKey runs on the same keys.
//
// Memory per key is the growth of the resident set at rest between 2 and
// 5, over the keys added.
func (r *runner) scale(ctx context.Context) error {
	o, sc := r.o, &Scale{SmallKeys: r.o.ScaleSmallKeys, Keys: r.o.ScaleKeys}
	r.s.Scale = sc
	data := filepath.Join(o.DataDir, "data")

	r.notef("scale: creating %d keys", o.ScaleSmallKeys)
	if res := r.fill(ctx, 0, o.ScaleSmallKeys); res.Errors > 0 {
		return fmt.Errorf("creating the first %d keys: %d errors (%s)", o.ScaleSmallKeys, res.Errors, res.FirstError)
	}
	var err error
	if sc.StartupSmallSeconds, sc.RSSSmallBytes, err = r.restartAtRest(ctx); err != nil {
		return err
	}
	phase := fmt.Sprintf("keys=%d", o.ScaleSmallKeys)
	r.scaleRuns(ctx, phase)

	sc.RSSLiveBeforeBytes, _ = rss(r.pid)
	diskBefore := dirSize(data)
	r.notef("scale: creating keys up to %d (concurrent CreateCryptoKey over gRPC, %d workers)", o.ScaleKeys, o.FillConcurrency)
	res := r.fill(ctx, o.ScaleSmallKeys, o.ScaleKeys)
	res.Phase = "fill"
	r.s.Results = append(r.s.Results, res)
	sc.FillSeconds, sc.FillRate, sc.FillErrors = res.Seconds, res.RPS, res.Errors
	added := float64(res.Requests)
	time.Sleep(2 * time.Second) // let the commit queues drain
	sc.RSSLiveAfterBytes, _ = rss(r.pid)
	if added > 0 {
		sc.LiveBytesPerKey = float64(sc.RSSLiveAfterBytes-sc.RSSLiveBeforeBytes) / added
		sc.DiskBytesPerKey = float64(dirSize(data)-diskBefore) / added
	}
	if sc.StartupSeconds, sc.RSSBytes, err = r.restartAtRest(ctx); err != nil {
		return err
	}
	if added > 0 {
		sc.BytesPerKey = float64(sc.RSSBytes-sc.RSSSmallBytes) / added
	}
	r.scaleRuns(ctx, fmt.Sprintf("keys=%d", o.ScaleSmallKeys+int(added)))
	return ctx.Err()
}

// restartAtRest restarts the server and returns its start-up time and,
// after a second at rest, its resident memory.
func (r *runner) restartAtRest(ctx context.Context) (float64, int64, error) {
	r.notef("scale: restarting the server")
	if err := r.srv.restart(ctx); err != nil {
		return 0, 0, err
	}
	r.useServer()
	if err := r.dial(ctx); err != nil {
		return 0, 0, err
	}
	r.notef("scale: serving after %s", r.srv.startup.Round(time.Millisecond))
	select {
	case <-time.After(time.Second):
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	}
	m, err := rss(r.pid)
	return r.srv.startup.Seconds(), m, err
}

// fill creates the scale keys s{from+1} to s{to} with FillConcurrency
// concurrent CreateCryptoKey calls over gRPC.
func (r *runner) fill(ctx context.Context, from, to int) Result {
	f := r.f
	var next atomic.Int64
	next.Store(int64(from))
	cred := newBearer(f.opsToken)
	ops := make([]Op, r.o.FillConcurrency)
	for w := range ops {
		c := r.grpcT.client(w)
		ops[w] = func(ctx context.Context) error {
			i := next.Add(1)
			req := &kmspb.CreateCryptoKeyRequest{
				Parent:      f.scaleRing,
				CryptoKeyId: fmt.Sprintf("s%07d", i),
				CryptoKey:   &kmspb.CryptoKey{Purpose: kmspb.CryptoKey_ENCRYPT_DECRYPT},
			}
			resp, err := c.CreateCryptoKey(ctx, req, cred)
			return checkGRPC(err, resp != nil && resp.Name != "")
		}
	}
	name := fmt.Sprintf("create-key/grpc (fill to %d)", to)
	// At the target's 1,000 keys/s, a million keys take 17 minutes.
	res := r.measureWith(ctx, RunConfig{Requests: int64(to - from), Limit: 2 * time.Hour}, name, ops, r.pid)
	res.Workload, res.Transport, res.Target = wCreateKey, GRPC, "custos"
	res.About = fmt.Sprintf("CreateCryptoKey over gRPC filling the scale ring from %d to %d keys", from, to)
	res.Concurrency, res.Connections = r.o.FillConcurrency, r.o.GRPCConns
	res.Ceiling = ceilEcho32
	return res
}

// scaleRuns measures Encrypt and GetCryptoKey on the first ScaleSmallKeys
// keys of the scale ring, picked at random per request, over REST.
func (r *runner) scaleRuns(ctx context.Context, phase string) {
	n := r.o.ScaleSmallKeys
	f := r.f
	enc := &workload{
		name: wEncrypt32, ceiling: ceilEcho32,
		about: fmt.Sprintf("Encrypt 32 B as the app on one of %d keys at random, data-access audit on", n),
		rest: func(f *fixture, t *restTarget, w int) Op {
			rnd := newRand(w)
			return restCall{method: http.MethodPost, token: f.encToken, want: []byte(`"ciphertext"`),
				body:   b64Body("plaintext", f.plaintext32),
				pathFn: func() string { return "/v1/" + scaleKeyName(f, 1+rnd.IntN(n)) + ":encrypt" }}.op(t)
		},
	}
	get := &workload{
		name: wGetKey, ceiling: ceilEcho32,
		about: fmt.Sprintf("GetCryptoKey on one of %d keys at random", n),
		rest: func(f *fixture, t *restTarget, w int) Op {
			rnd := newRand(w)
			return restCall{method: http.MethodGet, token: f.opsToken, want: []byte(`"name"`),
				pathFn: func() string { return "/v1/" + scaleKeyName(f, 1+rnd.IntN(n)) }}.op(t)
		},
	}
	for _, w := range []*workload{enc, get} {
		if ctx.Err() != nil {
			return
		}
		r.s.Results = append(r.s.Results, r.runWorkload(ctx, w, REST, f, phase, r.o.ScaleConcurrency))
	}
}

// dirSize returns the total size of the files below dir.
func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
