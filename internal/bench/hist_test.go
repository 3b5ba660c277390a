// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketBounds(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	values := []uint64{0, 1, 127, 128, 255, 256, 257, 1000, 1 << 20, 1<<40 + 12345, math.MaxInt64, math.MaxUint64}
	for range 10000 {
		values = append(values, r.Uint64()>>r.IntN(64))
	}
	for _, v := range values {
		i := bucketOf(v)
		if i < 0 || i >= numBuckets {
			t.Fatalf("bucketOf(%d) = %d, outside [0, %d)", v, i, numBuckets)
		}
		lo, hi := bucketBounds(i)
		if v < lo || v > hi {
			t.Fatalf("bucketOf(%d) = %d with bounds [%d, %d]", v, i, lo, hi)
		}
		if lo > 0 && float64(hi-lo) > float64(lo)/subCount {
			t.Fatalf("bucket %d = [%d, %d] is wider than 1/%d of its lower bound", i, lo, hi, subCount)
		}
	}
	// Buckets tile the line: each starts right after the previous ends.
	for i := 1; i < numBuckets; i++ {
		_, prevHi := bucketBounds(i - 1)
		lo, _ := bucketBounds(i)
		if lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, bucket %d ends at %d", i, lo, i-1, prevHi)
		}
	}
}

func TestQuantiles(t *testing.T) {
	tests := []struct {
		name    string
		samples []time.Duration
		q       float64
		want    time.Duration
	}{
		{"one sample", []time.Duration{5 * time.Millisecond}, 0.5, 5 * time.Millisecond},
		{"small values are exact", []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.5, 5},
		{"p90 of 1..10", []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.9, 9},
		{"p0 is the minimum", []time.Duration{7 * time.Second, 3 * time.Microsecond}, 0, 3 * time.Microsecond},
		{"p100 is the maximum", []time.Duration{7 * time.Second, 3 * time.Microsecond}, 1, 7 * time.Second},
		{"negative counts as zero", []time.Duration{-5}, 0.5, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h Histogram
			for _, s := range tc.samples {
				h.Record(s)
			}
			if got := h.Quantile(tc.q); got != tc.want {
				t.Errorf("Quantile(%v) = %v, want %v", tc.q, got, tc.want)
			}
		})
	}
}

// TestQuantilesMatchSorted compares the histogram with exact percentiles
// of sorted samples: within the bucket precision (1/128, so 0.4% from the
// midpoint), plus one nanosecond of rounding.
func TestQuantilesMatchSorted(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var h Histogram
	var samples []time.Duration
	for range 200_000 {
		// Log-normal-ish latencies from 50 µs to a few hundred ms.
		d := time.Duration(math.Exp(r.NormFloat64()*1.2+math.Log(2e6))) + 50*time.Microsecond
		samples = append(samples, d)
		h.Record(d)
	}
	slices.Sort(samples)
	for _, q := range []float64{0.01, 0.25, 0.5, 0.9, 0.99, 0.999} {
		exact := samples[int(math.Ceil(q*float64(len(samples))))-1]
		got := h.Quantile(q)
		if diff := math.Abs(float64(got-exact)) / float64(exact); diff > 1.0/subCount {
			t.Errorf("Quantile(%v) = %v, exact %v: off by %.3f%%", q, got, exact, diff*100)
		}
	}
	if h.Count() != uint64(len(samples)) || h.Min() != samples[0] || h.Max() != samples[len(samples)-1] {
		t.Errorf("Count, Min, Max = %d, %v, %v; want %d, %v, %v", h.Count(), h.Min(), h.Max(), len(samples), samples[0], samples[len(samples)-1])
	}
	var sum float64
	for _, s := range samples {
		sum += float64(s)
	}
	if got, want := h.Mean(), time.Duration(sum/float64(len(samples))); got != want {
		t.Errorf("Mean() = %v, want %v", got, want)
	}
}

func TestMerge(t *testing.T) {
	var a, b, all Histogram
	for i := range 1000 {
		d := time.Duration(i*i) * time.Microsecond
		all.Record(d)
		if i%3 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	var m Histogram
	m.Merge(&Histogram{}) // merging an empty one changes nothing
	m.Merge(&a)
	m.Merge(&b)
	if m != all {
		t.Fatalf("merging the halves differs from recording all: count %d, min %v, max %v; want %d, %v, %v",
			m.Count(), m.Min(), m.Max(), all.Count(), all.Min(), all.Max())
	}
}

func TestEmptyHistogram(t *testing.T) {
	var h Histogram
	if h.Quantile(0.99) != 0 || h.Mean() != 0 || h.Max() != 0 || h.Count() != 0 {
		t.Errorf("empty histogram: p99 %v, mean %v, max %v, count %d; want zeros", h.Quantile(0.99), h.Mean(), h.Max(), h.Count())
	}
}
