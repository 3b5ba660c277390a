// SPDX-License-Identifier: Apache-2.0

package audit

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkAppendParallel measures durable appends per second with many
// concurrent callers, the load the flusher's group commit is for: every
// Append returns only once its entry is synced. Run with -benchmem.
func BenchmarkAppendParallel(b *testing.B) {
	for _, par := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("callers=%dxGOMAXPROCS", par), func(b *testing.B) {
			f := newFixture(b)
			ctx := b.Context()
			e := testEntry(1)
			e.Details = map[string]string{"googleResource": "//bigquery.googleapis.com/projects/x/datasets/y"}
			b.SetParallelism(par)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := f.log.Append(ctx, e); err != nil {
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

// BenchmarkPrepare measures the flusher's CPU per entry outside the
// database: numbering, chaining and encoding a batch of 13 entries (the
// batch of 32 concurrent calls) into one record. "encrypt" is the entry
// of a data-access call, "ekm" that of a Cloud EKM wrap, with its ten
// details. Run with -benchmem.
func BenchmarkPrepare(b *testing.B) {
	f := newFixture(b)
	encrypt := testEntry(1)
	encrypt.Method, encrypt.Time = "Encrypt", time.Now()
	ekm := encrypt
	ekm.Method, ekm.Justification = "Wrap", "CUSTOMER_INITIATED_ACCESS"
	ekm.Details = map[string]string{
		"email": "service-123@gcp-sa-ekms.iam.gserviceaccount.com", "decision": "allowed", "app": "gcp",
		"version":            encrypt.Resource + "/cryptoKeyVersions/1",
		"justificationClass": "customer-initiated", "isKeyHealthCheck": "false",
		"fullResourceName":     "//cloudkms.googleapis.com/projects/g/locations/us/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1",
		"relativeResourceName": "projects/g/locations/us/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1",
		"keyPath":              "bench", "keyUriPrefix": "https://ekm.example.com/ekm/v0/keys/",
	}
	for _, tc := range []struct {
		name string
		e    Entry
	}{{"encrypt", encrypt}, {"ekm", ekm}} {
		b.Run(tc.name, func(b *testing.B) {
			batch := make([]Entry, 13)
			b.ReportAllocs()
			for b.Loop() {
				for i := range batch {
					batch[i] = tc.e
					sanitize(&batch[i])
				}
				f.log.prepare(batch, f.log.last, f.log.lastHash)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/entry")
		})
	}
}
