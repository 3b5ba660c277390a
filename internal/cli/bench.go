// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/custos-kms/custos/internal/bench"
)

// envGRPCAddr is the gRPC address of the server for custos bench.
const envGRPCAddr = "CUSTOS_GRPC_ADDR"

const benchLong = `Drive a Custos server with concurrent requests over REST and gRPC and report
requests per second and p50/p90/p99/max latency, each beside the ceiling of
this machine measured in the same run: a bare Go HTTP/1.1 keep-alive server
and a bare gRPC server answering a same-sized echo, driven by the same
generator with the same concurrency, and the raw rate of the crypto alone
(AES-GCM, HMAC, ECDSA P-256, RSA-2048 signing) on every core.

The bench sets up its own resources through the public API, as the admin: a
key ring with an encryption key, EC P-256 and RSA-2048 signing keys and an
HMAC key, a ring for CreateCryptoKey, two apps with API keys and their IAM
bindings, and data-access audit on. Encrypt and Decrypt run as an app
holding only roles/cloudkms.cryptoKeyEncrypterDecrypter on the key. Every
name carries the run's id; nothing is deleted afterwards.

Each run lasts --duration (or --requests) after --warmup, with
--concurrency workers: over REST each keeps one keep-alive connection; over
gRPC they share --grpc-conns connections and call the official kmspb stubs.
A progress line goes to stderr every second; the summary goes to stdout,
as tables or, with --output json, as one JSON object.

With --start-server the bench starts "custos server --dev" itself (this
binary, a fresh data folder, free loopback ports) and stops it at the end;
it then also reports the server's CPU time per request and its memory.
--standard adds, on such a server, the start-up time, the memory per key at
rest and the latency with --scale-keys keys in the store (made with
concurrent CreateCryptoKey calls over gRPC), and the targets' verdicts.

Workloads: ` + "encrypt-32, encrypt-32-audit-off (the same on a key without data-access\naudit, to tell the audit's cost apart), encrypt-4k, ekm-wrap, ekm-unwrap,\ndecrypt-32, sign-ec-p256, sign-rsa-2048, mac-sign, get-key, create-key, mixed\n(90% Encrypt/Decrypt, 10% admin reads), or all." + `

The Cloud EKM workloads (REST only) call {externalKeyUri}:wrap and :unwrap
with an ID token signed by the bench's own stand-in for Google's issuer: the
server must trust it, which --start-server arranges (--ekm-jwks-url); for a
running server see --ekm-issuer-listen.

The bench never asserts: it measures. Only loopback servers are driven.`

const benchExample = `  # Everything on a server the bench starts, as scripts/bench does
  custos bench --start-server --standard -o json > bench.json

  # Encrypt over REST and gRPC against a running dev server
  custos bench --addr http://127.0.0.1:8200 --grpc-addr 127.0.0.1:8201 \
      --token-file ./custos-data/admin-token -w encrypt-32 -c 32 -d 5s

  # 10,000 signatures over gRPC, no ceilings
  custos bench --start-server -w sign-ec-p256 -t grpc -n 10000 --ceiling=false`

// benchOptions are the flags of custos bench.
type benchOptions struct {
	workloads, transports     []string
	concurrency, grpcConns    int
	duration, warmup          time.Duration
	requests                  int64
	grpcAddr                  string
	ceiling                   bool
	startServer, keepData     bool
	dataDir                   string
	standard                  bool
	scaleKeys, scaleSmallKeys int
	fillConc, scaleConc       int
	serverPID                 int
	quiet                     bool
	serverCPUProfile          string
	ekmIssuer                 string
}

func newBenchCmd(g *globals) *cobra.Command {
	o := &benchOptions{}
	cmd := &cobra.Command{
		Use:     "bench",
		Short:   "Measure a server's throughput and latency beside this machine's ceiling",
		Long:    benchLong,
		Example: benchExample,
		Args:    exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBench(cmd, g, o)
		},
	}
	f := cmd.Flags()
	f.StringSliceVarP(&o.workloads, "workload", "w", []string{"encrypt-32"}, "workloads to run, comma-separated, or all")
	f.StringSliceVarP(&o.transports, "transport", "t", []string{bench.REST, bench.GRPC}, "transports: rest, grpc or both")
	f.IntVarP(&o.concurrency, "concurrency", "c", 32, "concurrent workers (and REST connections)")
	f.IntVar(&o.grpcConns, "grpc-conns", 0, "gRPC connections the workers share (default concurrency/8, at least 1)")
	f.DurationVarP(&o.duration, "duration", "d", 0, "measure each run for `DURATION` (default 5s unless --requests)")
	f.Int64VarP(&o.requests, "requests", "n", 0, "measure each run for `N` requests instead of a duration")
	f.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured requests first, for `DURATION`")
	f.StringVar(&o.grpcAddr, "grpc-addr", "", "server gRPC address, e.g. 127.0.0.1:8201 [$"+envGRPCAddr+"]")
	f.BoolVar(&o.ceiling, "ceiling", true, "also measure the bare echo servers and the raw crypto")
	f.BoolVar(&o.startServer, "start-server", false, "start a dev server (this binary) for the run and stop it after")
	f.StringVar(&o.dataDir, "data", "", "with --start-server: the folder for its data and log (default a temporary one)")
	f.BoolVar(&o.keepData, "keep-data", false, "with --start-server: keep the data folder")
	f.BoolVar(&o.standard, "standard", false, "the standard set: every workload, plus start-up, memory per key and scale (needs --start-server)")
	f.IntVar(&o.scaleKeys, "scale-keys", 100_000, "with --standard: keys in the large store (1000000 for the long run)")
	f.IntVar(&o.scaleSmallKeys, "scale-small-keys", 1_000, "with --standard: keys in the small store")
	f.IntVar(&o.fillConc, "fill-concurrency", 64, "with --standard: concurrent CreateCryptoKey calls that fill the store")
	f.IntVar(&o.scaleConc, "scale-concurrency", 8, "with --standard: workers of the scale latency runs")
	f.IntVar(&o.serverPID, "server-pid", 0, "pid of a running server, to report its CPU time per request")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "no progress lines on stderr")
	f.StringVar(&o.serverCPUProfile, "server-cpuprofile", "", "with --start-server: write the server's CPU profile over the first run to `FILE` (from its /debug/pprof, enabled with --metrics-listen and --debug-pprof)")
	f.StringVar(&o.ekmIssuer, "ekm-issuer-listen", "", "serve the bench's stand-in for Google's token issuer at `ADDR` (loopback), for a running server started with --ekm-jwks-url http://ADDR/certs; --start-server does this by itself")
	cmd.AddCommand(newBenchEchoCmd(), newBenchReportCmd(g))
	return cmd
}

// runBench checks the flags, resolves the server and runs the bench.
func runBench(cmd *cobra.Command, g *globals, o *benchOptions) error {
	fs := cmd.Flags()
	if o.duration > 0 && o.requests > 0 {
		return usageErrorf("--duration and --requests are mutually exclusive")
	}
	if o.duration < 0 || o.requests < 0 || o.warmup < 0 {
		return usageErrorf("--duration, --requests and --warmup must not be negative")
	}
	if o.concurrency < 1 || o.concurrency > 4096 {
		return usageErrorf("--concurrency must be between 1 and 4096, not %d", o.concurrency)
	}
	if o.grpcConns < 0 {
		return usageErrorf("--grpc-conns must not be negative")
	}
	if o.serverCPUProfile != "" && !o.startServer {
		return usageErrorf("--server-cpuprofile needs --start-server")
	}
	if o.ekmIssuer != "" && !benchLoopback(o.ekmIssuer) {
		return usageErrorf("--ekm-issuer-listen %s: not a loopback address", o.ekmIssuer)
	}
	if o.standard && !o.startServer {
		return usageErrorf("--standard restarts the server to measure start-up and memory; add --start-server")
	}
	if o.scaleKeys < 1 || o.scaleSmallKeys < 1 || o.scaleSmallKeys > o.scaleKeys {
		return usageErrorf("--scale-small-keys must be between 1 and --scale-keys")
	}
	for _, t := range o.transports {
		if t != bench.REST && t != bench.GRPC {
			return usageErrorf("--transport: unknown transport %q; want rest or grpc", t)
		}
	}
	workloads := o.workloads
	if o.standard && !fs.Changed("workload") {
		workloads = []string{"all"}
	}
	known := append(bench.WorkloadNames(), "all")
	for _, w := range workloads {
		if !contains(known, w) {
			return usageErrorf("--workload: unknown workload %q; want one of %s", w, strings.Join(known, ", "))
		}
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("cannot find this binary: %w", err)
	}
	opts := bench.Options{
		StartServer: o.startServer, Self: self, DataDir: o.dataDir, KeepData: o.keepData,
		Workloads: workloads, Transports: o.transports,
		Concurrency: o.concurrency, GRPCConns: o.grpcConns,
		Duration: o.duration, Requests: o.requests, Warmup: o.warmup,
		Ceiling: o.ceiling, Standard: o.standard,
		ScaleKeys: o.scaleKeys, ScaleSmallKeys: o.scaleSmallKeys,
		FillConcurrency: o.fillConc, ScaleConcurrency: o.scaleConc,
		ServerPID:        o.serverPID,
		ServerCPUProfile: o.serverCPUProfile,
		EKMIssuerListen:  o.ekmIssuer,
		Command:          benchCommandLine(cmd),
	}
	if !o.startServer {
		c, err := g.client()
		if err != nil {
			return err
		}
		if c.base.Scheme != "http" || !isLoopback(c.base.Hostname()) {
			return usageErrorf("custos bench drives loopback servers over plain http only, not %s", c.base)
		}
		opts.RESTURL, opts.Token = strings.TrimSuffix(c.base.String(), "/"), c.token
		opts.GRPCAddr = o.grpcAddr
		if v, ok := g.lookupEnv(envGRPCAddr); ok && v != "" && !fs.Changed("grpc-addr") {
			opts.GRPCAddr = v
		}
		if opts.GRPCAddr != "" && !benchLoopback(opts.GRPCAddr) {
			return usageErrorf("--grpc-addr %s: custos bench drives loopback servers only", opts.GRPCAddr)
		}
		if contains(o.transports, bench.GRPC) && opts.GRPCAddr == "" {
			return withHint(errors.New("no gRPC address"), "set --grpc-addr or "+envGRPCAddr+", e.g. 127.0.0.1:8201, or run with -t rest")
		}
	}
	if !o.quiet {
		opts.Progress = g.stderr
		opts.ProgressCR = isTerminal(g.stderr)
	}

	ctx, stop := signal.NotifyContext(benchContext(cmd), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if g.flags.Changed("timeout") && g.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, g.timeout)
		defer cancel()
	}
	s, err := bench.Run(ctx, opts)
	if err != nil {
		return err
	}
	if g.json() {
		return printValue(g.stdout, s)
	}
	return bench.WriteText(g.stdout, s)
}

func benchContext(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

// benchCommandLine rebuilds the command line from the flags that were set,
// leaving out the token.
func benchCommandLine(cmd *cobra.Command) string {
	parts := []string{"custos bench"}
	cmd.Flags().Visit(func(f *pflag.Flag) {
		switch f.Name {
		case "token":
			parts = append(parts, "--token=REDACTED")
			return
		}
		v := f.Value.String()
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			v = strings.Join(sv.GetSlice(), ",")
		}
		if f.Value.Type() == "bool" && v == "true" {
			parts = append(parts, "--"+f.Name)
			return
		}
		parts = append(parts, "--"+f.Name+"="+v)
	})
	return strings.Join(parts, " ")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// benchLoopback reports whether host:port is on loopback.
func benchLoopback(addr string) bool {
	host := addr
	if i := strings.LastIndex(addr, ":"); i >= 0 {
		host = strings.Trim(addr[:i], "[]")
	}
	return isLoopback(host)
}

// isTerminal reports whether w is a terminal (the progress line is then
// rewritten in place).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// newBenchEchoCmd builds the hidden `custos bench echo`: the bare echo
// servers of the ceiling, run by the bench as a child process.
func newBenchEchoCmd() *cobra.Command {
	var restAddr, grpcAddr string
	cmd := &cobra.Command{
		Use:    "echo",
		Short:  "Serve the bare HTTP/1.1 and gRPC echo of the bench's ceiling (used by custos bench)",
		Long:   "Serve the bare HTTP/1.1 and gRPC echo servers that custos bench measures as the machine's ceiling. It prints {\"rest\":ADDR,\"grpc\":ADDR} on one line once both accept connections, and exits when its standard input closes or on SIGTERM.",
		Hidden: true,
		Args:   exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(benchContext(cmd), os.Interrupt, syscall.SIGTERM)
			defer stop()
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			go func() {
				// The parent holds our stdin: when it goes, so do we.
				io.Copy(io.Discard, cmd.InOrStdin())
				cancel()
			}()
			out := cmd.OutOrStdout()
			return bench.ServeEcho(ctx, restAddr, grpcAddr, func(a bench.EchoAddrs) {
				b, _ := json.Marshal(a)
				fmt.Fprintf(out, "%s\n", b)
			})
		},
	}
	cmd.Flags().StringVar(&restAddr, "listen", "127.0.0.1:0", "HTTP echo address (loopback)")
	cmd.Flags().StringVar(&grpcAddr, "grpc-listen", "127.0.0.1:0", "gRPC echo address (loopback)")
	return cmd
}

// newBenchReportCmd builds `custos bench report`, which renders
// BENCHMARKS.md.
func newBenchReportCmd(g *globals) *cobra.Command {
	var summaryFile, longFile, goBenchFile, goBenchCmd, outFile, script string
	var profiles []string
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Render BENCHMARKS.md from a bench summary, Go benchmark output and profiles",
		Long: `Render BENCHMARKS.md from the JSON summary of "custos bench -o json", the
output of "go test -bench -benchmem" and CPU profiles' top entries (scripts/bench
does this). A profile file starts with "title: ..." and "command: ..." lines,
then a blank line, then the output of "go tool pprof -top".`,
		Example: `  custos bench report --summary bench.json --gobench gobench.txt --profile encrypt.top > BENCHMARKS.md`,
		Args:    exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			if summaryFile == "" {
				return usageErrorf("--summary is required")
			}
			s, err := readSummary(summaryFile)
			if err != nil {
				return err
			}
			in := bench.ReportInput{GoBenchCommand: goBenchCmd, Script: script}
			if longFile != "" {
				if in.Long, err = readSummary(longFile); err != nil {
					return err
				}
			}
			if goBenchFile != "" {
				b, err := os.ReadFile(goBenchFile)
				if err != nil {
					return err
				}
				in.GoBench = string(b)
			}
			for _, p := range profiles {
				pr, err := readProfile(p)
				if err != nil {
					return err
				}
				in.Profiles = append(in.Profiles, pr)
			}
			w := g.stdout
			if outFile != "" && outFile != "-" {
				f, err := os.Create(outFile)
				if err != nil {
					return err
				}
				defer f.Close()
				w = f
			}
			return bench.WriteMarkdown(w, s, in)
		},
	}
	f := cmd.Flags()
	f.StringVar(&summaryFile, "summary", "", "the JSON summary of custos bench -o json (`FILE`)")
	f.StringVar(&longFile, "long-summary", "", "the JSON summary of the long run with a million keys (`FILE`), if made")
	f.StringVar(&goBenchFile, "gobench", "", "output of go test -bench -benchmem (`FILE`)")
	f.StringVar(&goBenchCmd, "gobench-command", "", "the go test command that made --gobench")
	f.StringArrayVar(&profiles, "profile", nil, "a profile's top entries (`FILE`, repeatable)")
	f.StringVar(&script, "script", "scripts/bench", "the script named as the report's generator")
	f.StringVar(&outFile, "out", "", "write to `FILE` instead of stdout")
	return cmd
}

// readSummary reads the JSON summary of custos bench -o json.
func readSummary(path string) (*bench.Summary, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s bench.Summary
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: not a bench summary: %w", path, err)
	}
	if s.Schema != bench.Schema {
		return nil, fmt.Errorf("%s: schema %q, want %q", path, s.Schema, bench.Schema)
	}
	return &s, nil
}

// readProfile reads a profile file: "title:" and "command:" header lines,
// a blank line, the top entries.
func readProfile(path string) (bench.Profile, error) {
	f, err := os.Open(path)
	if err != nil {
		return bench.Profile{}, err
	}
	defer f.Close()
	var p bench.Profile
	var body strings.Builder
	sc := bufio.NewScanner(f)
	header := true
	for sc.Scan() {
		line := sc.Text()
		if header {
			if v, ok := strings.CutPrefix(line, "title:"); ok {
				p.Title = strings.TrimSpace(v)
				continue
			}
			if v, ok := strings.CutPrefix(line, "command:"); ok {
				p.Command = strings.TrimSpace(v)
				continue
			}
			header = false
			if strings.TrimSpace(line) == "" {
				continue
			}
		}
		body.WriteString(line)
		body.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return p, err
	}
	if p.Title == "" {
		p.Title = path
	}
	p.Top = body.String()
	return p, nil
}
