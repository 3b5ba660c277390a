// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	// npmTimeout bounds `npm ci` in test/node.
	npmTimeout = 5 * time.Minute
	// nodeTimeout bounds the whole `node --test` run (each Node test has
	// its own 60 s limit).
	nodeTimeout = 3 * time.Minute
	// minNodeMajor is the oldest Node.js these tests are run with. The
	// pinned @google-cloud/kms 6 and google-gax 6 declare engines
	// node >= 22, and work on 20 (npm warns EBADENGINE).
	minNodeMajor = 20
)

// TestNodeClient runs the official Node.js client, @google-cloud/kms
// (test/node/package.json pins it), against the real binary over gRPC and
// over REST: test/node/*.test.mjs with `node --test`, pointed at a server
// started here through CUSTOS_GRPC, CUSTOS_REST and CUSTOS_TOKEN.
func TestNodeClient(t *testing.T) {
	t.Parallel()
	node, npm := nodeTools(t)
	dir, err := filepath.Abs(filepath.Join("..", "node"))
	if err != nil {
		t.Fatal(err)
	}
	npmCI(t, npm, dir)

	files, err := filepath.Glob(filepath.Join(dir, "*.test.mjs"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files in %s (%v)", dir, err)
	}

	s := startServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), nodeTimeout)
	defer cancel()
	// Explicit files rather than the folder: `node --test DIR` is read as a
	// folder to search by Node 20 but as a glob pattern by Node 21 and later.
	args := append([]string{"--test", "--test-reporter=spec"}, files...)
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = dir
	cmd.WaitDelay = 10 * time.Second
	cmd.Env = append(os.Environ(),
		"CUSTOS_REST=http://"+s.restAddr,
		"CUSTOS_GRPC="+s.grpcAddr,
		"CUSTOS_TOKEN="+s.token,
		// Loopback only, whatever proxy the environment names.
		"NO_PROXY=127.0.0.1,localhost",
		"no_proxy=127.0.0.1,localhost",
		"NO_COLOR=1",
	)
	out, err := cmd.CombinedOutput()
	switch {
	case ctx.Err() != nil:
		t.Errorf("node --test did not finish within %v:\n%s", nodeTimeout, out)
	case err != nil:
		t.Errorf("node --test %s: %v\n%s", strings.Join(relAll(dir, files), " "), err, out)
	default:
		t.Logf("node --test:\n%s", out)
	}
}

// nodeTools finds node and npm on PATH and checks node's version. Missing
// tools fail the test: scripts/test installs them.
func nodeTools(t *testing.T) (node, npm string) {
	t.Helper()
	node, nerr := exec.LookPath("node")
	npm, perr := exec.LookPath("npm")
	if nerr != nil || perr != nil {
		t.Fatalf("TestNodeClient needs node (>= %d) and npm on PATH: install nodejs and npm "+
			"(scripts/test installs them; on Debian: apt-get install nodejs npm). node: %v; npm: %v",
			minNodeMajor, nerr, perr)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	v, err := exec.CommandContext(ctx, node, "--version").Output()
	if err != nil {
		t.Fatalf("%s --version: %v", node, err)
	}
	version := strings.TrimSpace(string(v))
	major, err := strconv.Atoi(strings.SplitN(strings.TrimPrefix(version, "v"), ".", 2)[0])
	if err != nil {
		t.Fatalf("%s --version = %q: not vMAJOR.MINOR.PATCH", node, version)
	}
	if major < minNodeMajor {
		t.Fatalf("%s is Node.js %s; TestNodeClient needs %d or later (@google-cloud/kms 6 declares >= 22): install a newer nodejs",
			node, version, minNodeMajor)
	}
	t.Logf("node %s (%s), npm %s", version, node, npm)
	return node, npm
}

// npmCI installs test/node's locked dependencies with `npm ci` unless
// node_modules is already there and no older than package-lock.json
// (npm writes node_modules/.package-lock.json on every install).
func npmCI(t *testing.T, npm, dir string) {
	t.Helper()
	lock, err := os.Stat(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		t.Fatalf("test/node has no package-lock.json: %v", err)
	}
	stamp, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json"))
	switch {
	case err == nil && !lock.ModTime().After(stamp.ModTime()):
		return
	case err != nil && !errors.Is(err, os.ErrNotExist):
		t.Fatalf("stat node_modules: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), npmTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	cmd.WaitDelay = 10 * time.Second
	cmd.Env = append(os.Environ(), "npm_config_update_notifier=false")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("npm ci in %s (%v): %v\n%s", dir, time.Since(start).Round(time.Millisecond), err, out)
	}
	t.Logf("npm ci in %s took %v", dir, time.Since(start).Round(time.Millisecond))
}

func relAll(dir string, files []string) []string {
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = f
		if r, err := filepath.Rel(dir, f); err == nil {
			out[i] = r
		}
	}
	return out
}
