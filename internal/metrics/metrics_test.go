// SPDX-License-Identifier: Apache-2.0

package metrics

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
)

func TestWriteText(t *testing.T) {
	r := New()
	r.Observe("Encrypt", codes.OK, 300*time.Microsecond)
	r.Observe("Encrypt", codes.OK, 2*time.Millisecond)
	r.Observe("Encrypt", codes.PermissionDenied, 150*time.Microsecond)
	r.AddCounter("custos_audit_write_failures_total", "Audit entries that could not be written.", func() uint64 { return 7 })
	var b bytes.Buffer
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		`custos_requests_total{method="Encrypt",code="OK"} 2`,
		`custos_requests_total{method="Encrypt",code="PERMISSION_DENIED"} 1`,
		`custos_request_duration_seconds_bucket{method="Encrypt",le="0.0002"} 1`,
		`custos_request_duration_seconds_bucket{method="Encrypt",le="+Inf"} 3`,
		`custos_request_duration_seconds_count{method="Encrypt"} 3`,
		"custos_audit_write_failures_total 7",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("exposition lacks %q:\n%s", want, out)
		}
	}
	if q := r.Quantile("Encrypt", 0.5); q != 0.0004 {
		t.Errorf("median = %g, want the 0.0004 bucket", q)
	}
}

func TestObserveConcurrent(t *testing.T) {
	r := New()
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 1000; j++ {
				r.Observe("Decrypt", codes.OK, time.Millisecond)
			}
		}()
	}
	wg.Wait()
	if n := r.load("Decrypt").count.Load(); n != 8000 {
		t.Fatalf("count = %d, want 8000", n)
	}
	if err := r.WriteText(io.Discard); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkObserve(b *testing.B) {
	r := New()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Observe("Encrypt", codes.OK, 400*time.Microsecond)
		}
	})
}
