// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"context"
	"testing"
)

// BenchmarkServerEncrypt drives a dev server in this process with the
// bench's Encrypt 32 B workload: 32 workers as the app holding only
// cryptoKeyEncrypterDecrypter, data-access audit on, over REST and over
// gRPC. It exists for its CPU profile: the server's goroutines carry the
// label side=server, so
//
//	go test -run '^$' -bench ServerEncrypt/rest -cpuprofile cpu.out ./internal/bench
//	go tool pprof -top -tagfocus side=server bench.test cpu.out
//
// shows where the server spends its time, apart from the load generator.
// (The server has no /debug/pprof endpoint yet.) Its allocs/op and B/op
// count the generator too.
func BenchmarkServerEncrypt(b *testing.B) {
	d := startDevServer(b)
	ctx := context.Background()
	f, err := setup(ctx, d.api(), false)
	if err != nil {
		b.Fatal(err)
	}
	const workers = 32
	gt, err := dialGRPC(ctx, d.grpcAddr, workers/8)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(gt.Close)
	for _, tr := range []string{REST, GRPC} {
		b.Run(tr, func(b *testing.B) {
			ops := make([]Op, workers)
			rt := &restTarget{base: d.restURL, client: newHTTPClient(workers)}
			defer rt.client.CloseIdleConnections()
			for w := range ops {
				if tr == REST {
					ops[w] = workloads[0].rest(f, rt, w)
				} else {
					ops[w] = workloads[0].grpc(f, gt, w)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			st := runLoop(ctx, RunConfig{Requests: int64(b.N)}, ops)
			b.StopTimer()
			if st.Errors > 0 {
				b.Fatalf("%d errors: %v", st.Errors, st.FirstError)
			}
			b.ReportMetric(st.RPS(), "req/s")
			b.ReportMetric(ms(st.Hist.Quantile(0.99)), "p99-ms")
		})
	}
}
