// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"bufio"
	"os"
	"runtime"
	"strings"
	"time"
)

// Schema names the version of the JSON summary's shape.
const Schema = "custos-bench/1"

// Summary is the machine-readable outcome of a bench run, printed as JSON
// with --output json. Latencies are in milliseconds, rates per second.
type Summary struct {
	Schema    string    `json:"schema"`
	Command   string    `json:"command"`
	StartTime time.Time `json:"startTime"`
	Seconds   float64   `json:"seconds"` // wall time of the whole run
	Machine   Machine   `json:"machine"`
	Settings  Settings  `json:"settings"`
	// Server is set when the bench started the server (or knows its pid).
	Server *ServerInfo `json:"server,omitempty"`
	// Results holds every measured run: the echo ceilings (target "echo")
	// and the workloads (target "custos"), then the scale runs (phase set).
	Results []Result `json:"results"`
	// RawCrypto is the rate of the primitives alone, on every core.
	RawCrypto []RawResult `json:"rawCrypto,omitempty"`
	Scale     *Scale      `json:"scale,omitempty"`
	Targets   []Target    `json:"targets,omitempty"`
	Notes     []string    `json:"notes,omitempty"`
}

// Machine describes where the run happened.
type Machine struct {
	CPUs       int    `json:"cpus"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	CPUModel   string `json:"cpuModel,omitempty"`
	GoVersion  string `json:"goVersion"`
	OS         string `json:"os"`
	Arch       string `json:"arch"`
	Kernel     string `json:"kernel,omitempty"`
	MemoryMiB  int64  `json:"memoryMiB,omitempty"`
	// LoadAverage is /proc/loadavg's 1, 5 and 15 minute figures at the
	// start: other work on a shared machine.
	LoadAverage string `json:"loadAverage,omitempty"`
}

// Settings are the run's parameters.
type Settings struct {
	Concurrency     int      `json:"concurrency"`
	GRPCConns       int      `json:"grpcConns"`
	Duration        string   `json:"duration,omitempty"`
	Requests        int64    `json:"requests,omitempty"`
	Warmup          string   `json:"warmup"`
	Workloads       []string `json:"workloads"`
	Transports      []string `json:"transports"`
	Ceiling         bool     `json:"ceiling"`
	Standard        bool     `json:"standard"`
	ScaleKeys       int      `json:"scaleKeys,omitempty"`
	ScaleSmallKeys  int      `json:"scaleSmallKeys,omitempty"`
	ScaleConc       int      `json:"scaleConcurrency,omitempty"`
	FillConcurrency int      `json:"fillConcurrency,omitempty"`
}

// ServerInfo is what the bench knows of the server process.
type ServerInfo struct {
	PID            int     `json:"pid,omitempty"`
	StartupSeconds float64 `json:"startupSeconds,omitempty"` // exec to admin-token file, empty store
	RSSBytes       int64   `json:"rssBytes,omitempty"`       // after the workloads
	Started        bool    `json:"started"`                  // by the bench (--start-server)
}

// Result is one measured run.
type Result struct {
	Workload    string  `json:"workload"`
	About       string  `json:"about,omitempty"`
	Transport   string  `json:"transport"`       // rest or grpc
	Target      string  `json:"target"`          // custos or echo
	Phase       string  `json:"phase,omitempty"` // scale runs: keys=N, fill
	Concurrency int     `json:"concurrency"`
	Connections int     `json:"connections"`
	Requests    int64   `json:"requests"`
	Errors      int64   `json:"errors"`
	FirstError  string  `json:"firstError,omitempty"`
	Seconds     float64 `json:"seconds"`
	RPS         float64 `json:"requestsPerSecond"`
	Latency     Latency `json:"latencyMs"`
	// CPU time per request of the server (Custos or the echo) and of the
	// load generator, when their pids are known: where the cores went.
	ServerCPUus float64 `json:"serverCpuUsPerRequest,omitempty"`
	ClientCPUus float64 `json:"clientCpuUsPerRequest,omitempty"`
	// AuditPerCommit is the number of audit entries each durable commit of
	// the server wrote during the run (from its /metrics): how well
	// concurrent calls share the cost of a commit.
	AuditPerCommit float64 `json:"auditEntriesPerCommit,omitempty"`
	// AuditCommitMs is the mean wall time of those commits, which every
	// audited call waits for at least.
	AuditCommitMs float64 `json:"auditCommitMs,omitempty"`
	// OtherCPU is the share of the machine's cores (percent) that other
	// processes used during the run: a busy neighbour shows here.
	OtherCPU float64 `json:"otherCpuPercent"`
	// Retries counts the times the run was measured again because other
	// processes disturbed it; the quietest measure is kept.
	Retries int `json:"retries,omitempty"`
	// Ceiling is the figure this one is compared with: an echo run
	// ("echo-32/rest") or a raw crypto rate; Ratio is RPS over its rate,
	// P99Ratio this p99 over the echo's.
	Ceiling    string  `json:"ceiling,omitempty"`
	CeilingRPS float64 `json:"ceilingRequestsPerSecond,omitempty"`
	Ratio      float64 `json:"ratio,omitempty"`
	CeilingP99 float64 `json:"ceilingP99Ms,omitempty"`
	P99Ratio   float64 `json:"p99Ratio,omitempty"`
}

// Latency holds the percentiles of a run, in milliseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// Scale is the standard run's measure of a large store.
type Scale struct {
	SmallKeys int `json:"smallKeys"` // keys in the scale ring for the first figures
	Keys      int `json:"keys"`      // keys in the scale ring for the second
	// Fill: the concurrent CreateCryptoKey calls (gRPC) from SmallKeys to Keys.
	FillSeconds float64 `json:"fillSeconds"`
	FillRate    float64 `json:"fillKeysPerSecond"`
	FillErrors  int64   `json:"fillErrors"`
	// Start-up (exec to admin-token file) and resident memory right after
	// a restart, before any call: the memory of keys not in use.
	StartupSmallSeconds float64 `json:"startupSmallSeconds"`
	StartupSeconds      float64 `json:"startupSeconds"`
	RSSSmallBytes       int64   `json:"rssSmallBytes"`
	RSSBytes            int64   `json:"rssBytes"`
	BytesPerKey         float64 `json:"bytesPerKey"`
	// The same while running, before and after the fill (caches, heap).
	RSSLiveBeforeBytes int64   `json:"rssLiveBeforeBytes"`
	RSSLiveAfterBytes  int64   `json:"rssLiveAfterBytes"`
	LiveBytesPerKey    float64 `json:"liveBytesPerKey"`
	// DiskBytesPerKey is the data folder's growth per key.
	DiskBytesPerKey float64 `json:"diskBytesPerKey"`
}

// Target is one goal of the issue with its verdict.
type Target struct {
	ID      string  `json:"id"`
	Goal    string  `json:"goal"`
	Figure  string  `json:"figure"`
	Ceiling string  `json:"ceiling,omitempty"`
	Ratio   float64 `json:"ratio,omitempty"`
	// Status is "met", "not met" or "not measured".
	Status string `json:"status"`
	// Detail says by how much, and what the figures point at.
	Detail string `json:"detail,omitempty"`
}

// Target statuses.
const (
	statusMet         = "met"
	statusNotMet      = "not met"
	statusNotMeasured = "not measured"
)

// machine describes this machine.
func machine() Machine {
	m := Machine{
		CPUs:       runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		GoVersion:  runtime.Version(),
		OS:         runtime.GOOS,
		Arch:       runtime.GOARCH,
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			m.LoadAverage = strings.Join(f[:3], " ")
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				var kb int64
				for _, c := range strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")) {
					if c >= '0' && c <= '9' {
						kb = kb*10 + int64(c-'0')
					}
				}
				m.MemoryMiB = kb >> 10
			}
		}
	}
	return m
}

// ms converts a duration to milliseconds.
func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// latencyOf reads the percentiles of h.
func latencyOf(h *Histogram) Latency {
	return Latency{
		P50:  ms(h.Quantile(0.50)),
		P90:  ms(h.Quantile(0.90)),
		P99:  ms(h.Quantile(0.99)),
		Max:  ms(h.Max()),
		Mean: ms(h.Mean()),
	}
}
