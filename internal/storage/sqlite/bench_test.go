// SPDX-License-Identifier: Apache-2.0

package sqlite

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/custos-kms/custos/internal/storage"
)

// BenchmarkCreateParallel measures durable creates per second with many
// concurrent callers, the load group commit is for. Every create is its own
// Update, acknowledged only once synced. Run with -benchmem.
func BenchmarkCreateParallel(b *testing.B) {
	for _, par := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("callers=%dxGOMAXPROCS", par), func(b *testing.B) {
			s, _ := openTemp(b)
			commits := commitCounter(s)
			var next atomic.Int64
			ctx := b.Context()
			b.SetParallelism(par)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					r := testRecord(fmt.Sprintf("keys/%09d", next.Add(1)))
					if err := s.Update(ctx, func(tx storage.Tx) error { return tx.Create(ctx, r) }); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
			if n := commits.Load(); n > 0 {
				b.ReportMetric(float64(b.N)/float64(n), "creates/commit")
			}
		})
	}
}
