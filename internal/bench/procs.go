// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// childEnv is this process's environment without the CUSTOS_* variables,
// which would otherwise change the defaults of the child's flags (a root
// key file, TLS, another data folder).
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CUSTOS_") {
			env = append(env, kv)
		}
	}
	return env
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr() (string, error) {
	a, err := freeAddrs(1)
	if err != nil {
		return "", err
	}
	return a[0], nil
}

// freeAddrs returns n distinct loopback addresses with ports free right
// now: the listeners are all held until every port is picked, so that the
// kernel cannot hand out one port twice.
func freeAddrs(n int) ([]string, error) {
	var out []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		out = append(out, l.Addr().String())
	}
	return out, nil
}

// serverProc is a dev server the bench started: "self server --dev" on a
// data folder of its own, on loopback ports it picked.
type serverProc struct {
	self, data string
	logPath    string
	extra      []string // more server flags
	// withMetrics adds --metrics-listen (on metrics) and --debug-pprof.
	withMetrics bool
	rest, grpc  string // host:port
	metrics     string // host:port, with withMetrics
	token       string // the dev admin token
	cmd         *exec.Cmd
	done        chan struct{} // closed when the process has exited
	// startup is the time from exec to the admin-token file: the server
	// writes it once both listeners accept requests.
	startup time.Duration
}

// startServer starts a dev server on data and waits until it serves.
func startServer(ctx context.Context, self, data, logPath string, extra []string, withMetrics bool) (*serverProc, error) {
	p := &serverProc{self: self, data: data, logPath: logPath, extra: extra, withMetrics: withMetrics}
	return p, p.start(ctx)
}

// start starts the server on free ports. Another process may take a port
// between the pick and the server's bind: then it tries other ports.
func (p *serverProc) start(ctx context.Context) error {
	var err error
	for range 3 {
		if err = p.startOnce(ctx); err == nil || !strings.Contains(err.Error(), "address already in use") {
			return err
		}
	}
	return err
}

func (p *serverProc) startOnce(ctx context.Context) error {
	addrs, err := freeAddrs(3)
	if err != nil {
		return err
	}
	p.rest, p.grpc, p.metrics = addrs[0], addrs[1], addrs[2]
	tokenPath := filepath.Join(p.data, "admin-token")
	if err := os.Remove(tokenPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	args := append([]string{"server", "--dev", "--data", p.data, "--listen", p.rest, "--grpc-listen", p.grpc}, p.extra...)
	if p.withMetrics {
		args = append(args, "--metrics-listen", p.metrics, "--debug-pprof")
	}
	cmd := exec.Command(p.self, args...)
	cmd.Env = childEnv()
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = childAttr()
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("starting %s server: %w", p.self, err)
	}
	logf.Close() // the child has its own descriptor
	p.cmd = cmd
	p.done = make(chan struct{})
	go func() { cmd.Wait(); close(p.done) }()

	deadline := time.NewTimer(60 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		if b, err := os.ReadFile(tokenPath); err == nil && bytes.HasSuffix(b, []byte("\n")) {
			p.startup = time.Since(t0)
			p.token = strings.TrimSpace(string(b))
			return nil
		}
		select {
		case <-tick.C:
		case <-p.done:
			return fmt.Errorf("the server exited during start-up (%v); its log: %s", cmd.ProcessState, tail(p.logPath))
		case <-deadline.C:
			p.stop()
			return fmt.Errorf("the server did not write its admin token within 60s; its log: %s", tail(p.logPath))
		case <-ctx.Done():
			p.stop()
			return ctx.Err()
		}
	}
}

// pid returns the server's process id.
func (p *serverProc) pid() int { return p.cmd.Process.Pid }

// stop asks the server to stop (SIGTERM: it drains, then closes storage)
// and waits, killing it after 20 s.
func (p *serverProc) stop() {
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
	p.cmd = nil
}

// restart stops the server and starts it again on the same data, on new
// ports, measuring start-up again.
func (p *serverProc) restart(ctx context.Context) error {
	p.stop()
	return p.start(ctx)
}

// tail returns the end of a log file, for an error message.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log)"
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

// rss returns the resident set size of process pid, from
// /proc/PID/status (VmRSS), in bytes.
func rss(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) == 2 && f[1] == "kB" {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				return kb << 10, err
			}
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// clockTick is USER_HZ, the unit of the times in /proc/PID/stat. It is 100
// on every Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// cpuTime returns the CPU time (user + system) process pid has used, from
// /proc/PID/stat. It returns 0 and an error where there is no /proc.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces and parentheses: fields start after
	// the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("bad /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(ut+st) * clockTick, nil
}

// machineBusy returns the CPU time all processes have used, from the
// first line of /proc/stat (user, nice, system, irq, softirq, steal).
func machineBusy() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, errors.New("bad /proc/stat")
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		v, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return 0, err
		}
		ticks += v
	}
	return time.Duration(ticks) * clockTick, nil
}

// cpuMeter measures the CPU time that processes, and the whole machine,
// use during a run.
type cpuMeter struct {
	pids      []int
	before    []time.Duration
	busy      time.Duration
	busyOK    bool
	startTime time.Time
}

func startCPU(pids ...int) *cpuMeter {
	m := &cpuMeter{pids: pids, startTime: time.Now()}
	for _, pid := range pids {
		t, _ := cpuTime(pid)
		m.before = append(m.before, t)
	}
	m.busy, _ = machineBusy()
	m.busyOK = m.busy > 0
	return m
}

// stop returns the CPU time each process used since startCPU (0 where it
// cannot be read), and the share of the machine's cores (0 to 1) that the
// other processes used meanwhile (-1 if unknown).
func (m *cpuMeter) stop() ([]time.Duration, float64) {
	out := make([]time.Duration, len(m.pids))
	var ours time.Duration
	for i, pid := range m.pids {
		if pid <= 0 {
			continue
		}
		if t, err := cpuTime(pid); err == nil {
			out[i] = t - m.before[i]
			ours += out[i]
		}
	}
	busy, err := machineBusy()
	wall := time.Since(m.startTime)
	if err != nil || !m.busyOK || wall <= 0 {
		return out, -1
	}
	others := float64(busy-m.busy-ours) / (float64(wall) * float64(runtime.NumCPU()))
	return out, min(max(others, 0), 1)
}
