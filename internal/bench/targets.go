// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// The targets of issue 6, on this machine, client and server sharing it.
const (
	targetEchoRatio  = 0.60 // Encrypt 32 B ≥ 60 % of the echo's requests/s
	targetP99Ratio   = 1.5  // and p99 ≤ 1.5 × the echo's
	targetSignRatio  = 0.80 // AsymmetricSign ≥ 80 % of the raw signing rate
	targetCreateRate = 1000 // CreateCryptoKey keys/s, durable
	targetScaleDrift = 0.10 // latency with the large store within 10 %
	targetBytesKey   = 2048 // resident memory per key at rest
	targetStartup    = 2.0  // seconds from exec to serving
	targetEKMRatio   = 0.90 // EKM wrap within 10 % of Encrypt
)

// evaluate gives each target of the issue its verdict from the summary.
func evaluate(s *Summary) []Target {
	var out []Target
	find := func(workload, transport, phase string) *Result {
		for i := range s.Results {
			r := &s.Results[i]
			if r.Target == "custos" && r.Workload == workload && r.Transport == transport && r.Phase == phase {
				return r
			}
		}
		return nil
	}
	findEchoAt := func(size, transport, phase string) *Result {
		for i := range s.Results {
			r := &s.Results[i]
			if r.Target == "echo" && r.Workload == size && r.Transport == transport && r.Phase == phase {
				return r
			}
		}
		return nil
	}
	findEcho := func(size, transport string) *Result { return findEchoAt(size, transport, "") }

	// Encrypt 32 B against the echo, per transport.
	// (busyPhase names the runs at more connections, if any.)
	for _, t := range []string{REST, GRPC} {
		id := "encrypt-32-" + t
		goal := fmt.Sprintf("Encrypt 32 B over %s as the app, data-access audit on: ≥ %.0f%% of the bare %s echo's requests/s at %d connections, p99 ≤ %.1f× the echo's",
			upper(t), targetEchoRatio*100, upper(t), 32, targetP99Ratio)
		r, e := find(wEncrypt32, t, ""), findEcho(ceilEcho32, t)
		if r == nil || e == nil {
			out = append(out, Target{ID: id, Goal: goal, Status: statusNotMeasured, Detail: "needs the encrypt-32 workload and the ceiling over " + t})
			continue
		}
		tg := Target{
			ID: id, Goal: goal,
			Figure:  fmt.Sprintf("%s req/s, p99 %s", num(r.RPS), msStr(r.Latency.P99)),
			Ceiling: fmt.Sprintf("%s req/s, p99 %s", num(e.RPS), msStr(e.Latency.P99)),
			Ratio:   r.RPS / e.RPS,
		}
		p99 := r.Latency.P99 / e.Latency.P99
		var why []string
		if tg.Ratio < targetEchoRatio {
			why = append(why, fmt.Sprintf("rate %.0f%% of the echo's, %.0f points short of %.0f%% (%s req/s more needed)",
				tg.Ratio*100, (targetEchoRatio-tg.Ratio)*100, targetEchoRatio*100, num(targetEchoRatio*e.RPS-r.RPS)))
		}
		if p99 > targetP99Ratio {
			why = append(why, fmt.Sprintf("p99 %.2f× the echo's, above %.1f× by %.0f%%", p99, targetP99Ratio, (p99/targetP99Ratio-1)*100))
		}
		if r.Errors > 0 {
			why = append(why, fmt.Sprintf("%d failed requests", r.Errors))
		}
		if s.Settings.Concurrency != 32 {
			why = append(why, fmt.Sprintf("measured at %d connections, not 32", s.Settings.Concurrency))
		}
		tg.Status, tg.Detail = verdict(why, fmt.Sprintf("rate %.0f%% of the echo's, p99 %.2f× the echo's", tg.Ratio*100, p99))
		tg.Detail += cpuNote(r, e)
		if q := find(wEncrypt32Quiet, t, ""); q != nil && q.RPS > 0 {
			tg.Detail += fmt.Sprintf("; with data-access audit off the same call makes %s req/s (%.0f%% of the echo's, p99 %.2f×)",
				num(q.RPS), q.RPS/e.RPS*100, q.Latency.P99/e.Latency.P99)
			if q.ServerCPUus > 0 && r.ServerCPUus > 0 {
				tg.Detail += fmt.Sprintf(" at %.0f µs of server CPU: the durable audit entry costs %.0f µs per request", q.ServerCPUus, r.ServerCPUus-q.ServerCPUus)
				if r.AuditPerCommit > 0 {
					tg.Detail += fmt.Sprintf(", each commit (one fdatasync) writing %.1f entries and taking %.2f ms of wall time, which every call waits for", r.AuditPerCommit, r.AuditCommitMs)
				}
			}
		}
		// The same call with more connections: more calls share a commit.
		if phase := busyPhase(s); phase != "" {
			if b, be := find(wEncrypt32, t, phase), findEchoAt(ceilEcho32, t, phase); b != nil && be != nil && be.RPS > 0 && be.Latency.P99 > 0 {
				tg.Detail += fmt.Sprintf("; at %d connections (%s) it makes %s req/s, %.0f%% of the echo's at that load (p99 %.2f× the echo's), %.1f entries per commit",
					b.Concurrency, phase, num(b.RPS), b.RPS/be.RPS*100, b.Latency.P99/be.Latency.P99, b.AuditPerCommit)
			}
		}
		if r.OtherCPU >= 10 || e.OtherCPU >= 10 {
			tg.Detail += fmt.Sprintf("; other processes used %.0f%% of the cores during this run and %.0f%% during the echo's", r.OtherCPU, e.OtherCPU)
		}
		out = append(out, tg)
	}

	// EKM wrap against Encrypt.
	{
		tg := Target{ID: "ekm-wrap",
			Goal: fmt.Sprintf("Cloud EKM wrap (REST) with token verification and justification check: ≥ %.0f%% of Encrypt 32 B's rate over REST", targetEKMRatio*100)}
		w, e := find(wEKMWrap, REST, ""), find(wEncrypt32, REST, "")
		switch {
		case w == nil || e == nil || e.RPS == 0:
			tg.Status, tg.Detail = statusNotMeasured, "needs the ekm-wrap and encrypt-32 workloads over REST, on a server that trusts the bench's token issuer (--start-server)"
		default:
			tg.Figure = fmt.Sprintf("%s req/s, p99 %s", num(w.RPS), msStr(w.Latency.P99))
			tg.Ceiling = fmt.Sprintf("Encrypt %s req/s, p99 %s", num(e.RPS), msStr(e.Latency.P99))
			tg.Ratio = w.RPS / e.RPS
			var why []string
			if tg.Ratio < targetEKMRatio {
				why = append(why, fmt.Sprintf("%.0f%% of Encrypt's rate, %.0f points short of %.0f%%", tg.Ratio*100, (targetEKMRatio-tg.Ratio)*100, targetEKMRatio*100))
			}
			if w.Errors > 0 {
				why = append(why, fmt.Sprintf("%d failed requests", w.Errors))
			}
			tg.Status, tg.Detail = verdict(why, fmt.Sprintf("%.0f%% of Encrypt's rate", tg.Ratio*100))
			if w.ServerCPUus > 0 && e.ServerCPUus > 0 {
				tg.Detail += fmt.Sprintf("; server CPU %.0f µs per wrap against %.0f µs per Encrypt", w.ServerCPUus, e.ServerCPUus)
			}
			if u := find(wEKMUnwrap, REST, ""); u != nil {
				tg.Detail += fmt.Sprintf("; unwrap %s req/s (%.0f%%)", num(u.RPS), u.RPS/e.RPS*100)
			}
		}
		out = append(out, tg)
	}

	// AsymmetricSign against the raw signing rate.
	for _, w := range []string{wSignEC, wSignRSA} {
		for _, t := range []string{REST, GRPC} {
			id := w + "-" + t
			goal := fmt.Sprintf("AsymmetricSign %s over %s: ≥ %.0f%% of the raw signing rate on the same cores", strings.TrimPrefix(w, "sign-"), upper(t), targetSignRatio*100)
			r := find(w, t, "")
			if r == nil || r.CeilingRPS == 0 {
				out = append(out, Target{ID: id, Goal: goal, Status: statusNotMeasured, Detail: "needs the " + w + " workload and the raw crypto ceiling"})
				continue
			}
			tg := Target{ID: id, Goal: goal,
				Figure:  fmt.Sprintf("%s signatures/s", num(r.RPS)),
				Ceiling: fmt.Sprintf("%s signatures/s raw (%s per core)", num(r.CeilingRPS), num(r.CeilingRPS/float64(max(s.Machine.GOMAXPROCS, 1)))),
				Ratio:   r.Ratio,
			}
			var why []string
			if r.Ratio < targetSignRatio {
				why = append(why, fmt.Sprintf("%.0f%% of the raw rate, %.0f points short of %.0f%%", r.Ratio*100, (targetSignRatio-r.Ratio)*100, targetSignRatio*100))
			}
			if r.Errors > 0 {
				why = append(why, fmt.Sprintf("%d failed requests", r.Errors))
			}
			tg.Status, tg.Detail = verdict(why, fmt.Sprintf("%.0f%% of the raw rate", r.Ratio*100))
			if x := rawOf(s, ceilingOf(w)); x != nil && x.OneCore > 0 && r.ServerCPUus > 0 {
				tg.Detail += fmt.Sprintf("; server CPU %.0f µs per signature against %.0f µs for the signature alone (one loop), generator %.0f µs",
					r.ServerCPUus, 1e6/x.OneCore, r.ClientCPUus)
			}
			if e := findEcho(ceilEcho32, t); e != nil && e.RPS < targetSignRatio*r.CeilingRPS {
				tg.Detail += fmt.Sprintf("; the bare %s echo itself makes only %s req/s, %.0f%% of the raw rate: at this signing speed the transport and the generator, not the server, bound the figure",
					upper(t), num(e.RPS), e.RPS/r.CeilingRPS*100)
			}
			out = append(out, tg)
		}
	}

	// CreateCryptoKey rate.
	for i := range s.Results {
		r := &s.Results[i]
		if r.Target != "custos" || r.Workload != wCreateKey {
			continue
		}
		label := upper(r.Transport)
		if r.Phase != "" {
			label += ", " + r.Phase + fmt.Sprintf(" to %d keys", s.Settings.ScaleKeys)
		}
		tg := Target{ID: "create-key-" + r.Transport + map[bool]string{true: "-fill"}[r.Phase == "fill"],
			Goal:   fmt.Sprintf("CreateCryptoKey (%s, %d workers): ≥ %s keys/s on the embedded store, durable", label, r.Concurrency, num(targetCreateRate)),
			Figure: fmt.Sprintf("%s keys/s, p99 %s", num(r.RPS), msStr(r.Latency.P99)),
			Ratio:  r.RPS / targetCreateRate,
		}
		var why []string
		if r.RPS < targetCreateRate {
			why = append(why, fmt.Sprintf("%.0f%% below %s keys/s", (1-r.RPS/targetCreateRate)*100, num(targetCreateRate)))
		}
		if r.Errors > 0 {
			why = append(why, fmt.Sprintf("%d failed requests", r.Errors))
		}
		tg.Status, tg.Detail = verdict(why, fmt.Sprintf("%.1f× the target", tg.Ratio))
		if r.ServerCPUus > 0 {
			tg.Detail += fmt.Sprintf("; server CPU %.0f µs per key", r.ServerCPUus)
		}
		if r.Latency.Max > 1000 && r.Latency.Max > 20*r.Latency.P99 {
			tg.Detail += fmt.Sprintf("; the slowest create took %.1f s against a p99 of %s: the writes stalled once", r.Latency.Max/1000, msStr(r.Latency.P99))
		}
		out = append(out, tg)
	}

	// Scale: latency with the large store against the small.
	if sc := s.Scale; sc != nil {
		small, large := fmt.Sprintf("keys=%d", sc.SmallKeys), ""
		for _, r := range s.Results {
			if r.Phase != "" && r.Phase != small && r.Phase != "fill" {
				large = r.Phase
			}
		}
		for _, w := range []string{wEncrypt32, wGetKey} {
			id := "scale-" + w
			goal := fmt.Sprintf("%s latency with %s keys in the store within %.0f%% of the figure with %s (REST, %d workers, p50)",
				w, num(float64(sc.Keys)), targetScaleDrift*100, num(float64(sc.SmallKeys)), s.Settings.ScaleConc)
			a, b := find(w, REST, small), find(w, REST, large)
			if a == nil || b == nil || a.Latency.P50 == 0 {
				out = append(out, Target{ID: id, Goal: goal, Status: statusNotMeasured})
				continue
			}
			tg := Target{ID: id, Goal: goal,
				Figure:  fmt.Sprintf("p50 %s, p99 %s, %s req/s (%s)", msStr(b.Latency.P50), msStr(b.Latency.P99), num(b.RPS), b.Phase),
				Ceiling: fmt.Sprintf("p50 %s, p99 %s, %s req/s (%s)", msStr(a.Latency.P50), msStr(a.Latency.P99), num(a.RPS), a.Phase),
				Ratio:   b.Latency.P50 / a.Latency.P50,
			}
			var why []string
			if tg.Ratio > 1+targetScaleDrift {
				why = append(why, fmt.Sprintf("p50 %.0f%% slower, %.0f points over %.0f%%", (tg.Ratio-1)*100, (tg.Ratio-1-targetScaleDrift)*100, targetScaleDrift*100))
			}
			if b.Errors > 0 {
				why = append(why, fmt.Sprintf("%d failed requests", b.Errors))
			}
			tg.Status, tg.Detail = verdict(why, fmt.Sprintf("p50 %+.1f%%, p99 %+.1f%%", (tg.Ratio-1)*100, (b.Latency.P99/a.Latency.P99-1)*100))
			out = append(out, tg)
		}
		tg := Target{ID: "memory-per-key",
			Goal:   fmt.Sprintf("server memory per key not in use < %s bytes (resident set right after a restart)", num(targetBytesKey)),
			Figure: fmt.Sprintf("%s (RSS %s MiB with %s keys, %s MiB with %s)", bytesPerKey(sc.BytesPerKey), mib(sc.RSSBytes), num(float64(sc.Keys)), mib(sc.RSSSmallBytes), num(float64(sc.SmallKeys))),
			Ratio:  max(sc.BytesPerKey, 0) / targetBytesKey,
		}
		var why []string
		if sc.BytesPerKey >= targetBytesKey {
			why = append(why, fmt.Sprintf("%.0f%% over", (sc.BytesPerKey/targetBytesKey-1)*100))
		}
		tg.Status, tg.Detail = verdict(why, fmt.Sprintf("%.0f%% of the budget: keys at rest stay in the store, not in memory", max(tg.Ratio, 0)*100))
		tg.Detail += fmt.Sprintf("; while running, the fill grew the resident set by %s (caches and heap); the data folder grew by %s",
			bytesPerKey(sc.LiveBytesPerKey), bytesPerKey(sc.DiskBytesPerKey))
		out = append(out, tg)
	}

	// Start-up.
	if s.Server != nil && s.Server.StartupSeconds > 0 {
		worst, at := s.Server.StartupSeconds, "an empty store"
		fig := fmt.Sprintf("%.3f s (empty store)", s.Server.StartupSeconds)
		if sc := s.Scale; sc != nil {
			fig += fmt.Sprintf(", %.3f s (%s keys), %.3f s (%s keys)", sc.StartupSmallSeconds, num(float64(sc.SmallKeys)), sc.StartupSeconds, num(float64(sc.Keys)))
			if sc.StartupSeconds > worst {
				worst, at = sc.StartupSeconds, num(float64(sc.Keys))+" keys"
			}
		}
		tg := Target{ID: "startup", Goal: fmt.Sprintf("start-up to serving < %.0f s (exec to the admin-token file)", targetStartup),
			Figure: fig, Ratio: worst / targetStartup}
		var why []string
		if worst >= targetStartup {
			why = append(why, fmt.Sprintf("%.2f s with %s, %.0f%% over", worst, at, (worst/targetStartup-1)*100))
		}
		tg.Status, tg.Detail = verdict(why, fmt.Sprintf("worst %.0f%% of the budget", tg.Ratio*100))
		out = append(out, tg)
	}

	// No failed request anywhere.
	var failed []string
	measured := false
	for _, r := range s.Results {
		if r.Target != "custos" {
			continue
		}
		measured = true
		if r.Errors > 0 {
			failed = append(failed, fmt.Sprintf("%s/%s %s: %d (%s)", r.Workload, r.Transport, r.Phase, r.Errors, r.FirstError))
		}
	}
	if measured {
		tg := Target{ID: "no-errors", Goal: "every request answered successfully under load (no quota applies by default)", Figure: fmt.Sprintf("%d runs", len(s.Results))}
		tg.Status, tg.Detail = verdict(failed, "no failed request")
		out = append(out, tg)
	}
	if !s.Settings.Standard {
		// A partial run leaves out the targets it did not measure.
		out = slices.DeleteFunc(out, func(t Target) bool { return t.Status == statusNotMeasured })
	}
	return out
}

// verdict returns "met" and ok when why is empty, else "not met" and the
// reasons.
func verdict(why []string, ok string) (string, string) {
	if len(why) == 0 {
		return statusMet, ok
	}
	return statusNotMet, strings.Join(why, "; ")
}

// cpuNote compares the CPU time per request of Custos and of the echo.
func cpuNote(r, e *Result) string {
	if r.ServerCPUus == 0 || e.ServerCPUus == 0 {
		return ""
	}
	return fmt.Sprintf("; CPU per request: Custos %.0f µs against the echo's %.0f µs, generator %.0f µs (%.0f µs against the echo)",
		r.ServerCPUus, e.ServerCPUus, r.ClientCPUus, e.ClientCPUus)
}

func upper(t string) string {
	if t == GRPC {
		return "gRPC"
	}
	return strings.ToUpper(t)
}

// num formats a figure with thousands separators and sensible precision.
func num(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Sprint(v)
	}
	neg := v < 0
	if neg {
		v = -v
	}
	var s string
	switch {
	case v >= 100:
		s = group(fmt.Sprintf("%.0f", v))
	case v >= 10:
		s = fmt.Sprintf("%.1f", v)
	default:
		s = fmt.Sprintf("%.2f", v)
	}
	if neg {
		s = "-" + s
	}
	return s
}

// group adds thousands separators to a string of digits.
func group(d string) string {
	var b strings.Builder
	for i, c := range d {
		if i > 0 && (len(d)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// msStr formats milliseconds.
func msStr(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f ms", v)
	case v >= 10:
		return fmt.Sprintf("%.1f ms", v)
	default:
		return fmt.Sprintf("%.2f ms", v)
	}
}

func mib(b int64) string { return fmt.Sprintf("%.1f", float64(b)/(1<<20)) }

// ceilingOf returns the ceiling name of a workload.
func ceilingOf(name string) string {
	for _, w := range workloads {
		if w.name == name {
			return w.ceiling
		}
	}
	return ""
}

// rawOf returns the raw rate of a primitive, or nil.
func rawOf(s *Summary, name string) *RawResult {
	for i := range s.RawCrypto {
		if s.RawCrypto[i].Name == name {
			return &s.RawCrypto[i]
		}
	}
	return nil
}

// busyPhase returns the phase of the runs made at more connections than
// the standard (see runner.busyRuns), or "" if there are none.
func busyPhase(s *Summary) string {
	for _, r := range s.Results {
		if strings.HasPrefix(r.Phase, busyPhasePrefix) {
			return r.Phase
		}
	}
	return ""
}
