// SPDX-License-Identifier: Apache-2.0

//go:build unix

package audit

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/custos-kms/custos/internal/kms"
)

// BenchmarkRecordDataAccess is the audit side of every Encrypt: Record of
// a data-access event, as an app, on a key.
//
//   - off: data-access audit off for the key: the decision not to record,
//     from the in-memory settings (parsing the name, walking its
//     ancestors);
//   - on: on for the key: a durable, chained append, with
//     16×GOMAXPROCS concurrent callers sharing the group commits as
//     concurrent requests do.
//
// BenchmarkAppendParallel measures Append alone; this adds the event's
// conversion and the settings lookup. Run with -benchmem. cpu-µs/op is
// the process's CPU time (user and system, fsync included) per Record:
// with "on", what each audited call costs the server's cores.
func BenchmarkRecordDataAccess(b *testing.B) {
	const key = "projects/p/locations/global/keyRings/r/cryptoKeys/k"
	ctx := kms.WithCaller(context.Background(), &kms.Caller{
		Principal: "app:billing", App: "billing", AuthMethod: "api-key",
		RequestID: "0123456789abcdef", ClientAddress: "127.0.0.1:50000",
	})
	ev := kms.Event{Method: "Encrypt", Resource: key, DataAccess: true}
	for _, on := range []bool{false, true} {
		name := map[bool]string{false: "off", true: "on"}[on]
		b.Run(name, func(b *testing.B) {
			f := newFixture(b)
			if err := f.log.SetDataAccess(context.Background(), key, on); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			cpu0 := cpuTime()
			defer func() { b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op") }()
			if !on {
				for b.Loop() {
					if err := f.log.Record(ctx, ev); err != nil {
						b.Fatal(err)
					}
				}
				return
			}
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := f.log.Record(ctx, ev); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
			if n := f.log.flushes.Load(); n > 0 {
				b.ReportMetric(float64(b.N)/float64(n), "entries/commit")
			}
		})
	}
}

// cpuTime returns the CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
