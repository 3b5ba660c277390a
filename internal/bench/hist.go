// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"math"
	"math/bits"
	"time"
)

// Histogram buckets: values below 2*subCount nanoseconds get a bucket each;
// above, each power of two is cut into subCount equal buckets, so that a
// bucket is never wider than 1/subCount of its lower bound (0.8 %). This is
// the layout of an HDR histogram with 2 significant digits: fixed memory
// (numBuckets counters, 58 KiB) whatever the number of samples, O(1)
// recording and merging by addition.
const (
	subBits    = 7
	subCount   = 1 << subBits
	numBuckets = 2*subCount + (64-subBits-1)*subCount
)

// Histogram records latencies. The zero value is empty and ready to use.
// It is not safe for concurrent use: give each worker its own and [Merge]
// them at the end.
type Histogram struct {
	counts   [numBuckets]uint64
	n        uint64
	sum      float64 // nanoseconds, for the mean
	min, max int64   // exact, nanoseconds
}

// bucketOf returns the bucket of v nanoseconds (v >= 0).
func bucketOf(v uint64) int {
	if v < 2*subCount {
		return int(v)
	}
	shift := bits.Len64(v) - (subBits + 1) // >= 1
	top := v >> uint(shift)                // in [subCount, 2*subCount)
	return 2*subCount + (shift-1)*subCount + int(top-subCount)
}

// bucketBounds returns the smallest and largest value of bucket i.
func bucketBounds(i int) (lo, hi uint64) {
	if i < 2*subCount {
		return uint64(i), uint64(i)
	}
	j := i - 2*subCount
	shift := uint(j/subCount + 1)
	top := uint64(j%subCount + subCount)
	lo = top << shift
	return lo, lo + (1 << shift) - 1
}

// Record adds one latency. Negative durations count as 0.
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	h.counts[bucketOf(uint64(v))]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

// Merge adds every sample of o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
	h.sum += o.sum
}

// Count returns the number of samples.
func (h *Histogram) Count() uint64 { return h.n }

// Min and Max return the exact smallest and largest sample (0 if empty).
func (h *Histogram) Min() time.Duration { return time.Duration(h.min) }
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean returns the exact mean (0 if empty).
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// Quantile returns the latency at or below which a fraction q (0 to 1) of
// the samples lie: the sample of rank ceil(q*n), as the midpoint of its
// bucket clamped to the exact minimum and maximum. The result is within
// 0.4 % of the true sample. It returns 0 for an empty histogram.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	switch {
	case q <= 0:
		return time.Duration(h.min)
	case q >= 1:
		return time.Duration(h.max)
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, hi := bucketBounds(i)
			v := int64(lo + (hi-lo)/2)
			return time.Duration(min(max(v, h.min), h.max))
		}
	}
	return time.Duration(h.max) // unreachable: the counts add up to n
}
