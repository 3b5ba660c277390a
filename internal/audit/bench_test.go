// SPDX-License-Identifier: Apache-2.0

package audit

import (
	"fmt"
	"testing"
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
