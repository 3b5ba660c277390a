// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

const (
	testKey     = "projects/p/locations/l/keyRings/r/cryptoKeys/k"
	testVersion = testKey + "/cryptoKeyVersions/1"
)

func TestExitCodes(t *testing.T) {
	srv := newFakeServer(t, map[string]func(request) reply{
		"GET /v1/" + testKey: func(request) reply {
			return reply{status: 404, body: `{"error":{"code":404,"message":"key not found","status":"NOT_FOUND"}}`}
		},
	})
	tests := []struct {
		name     string
		args     []string
		want     int
		stderrRE string // substring of stderr
	}{
		{"help", []string{"--help"}, 0, ""},
		{"subcommand help", []string{"keys", "create", "--help"}, 0, ""},
		{"help command", []string{"help", "encrypt"}, 0, ""},
		{"version", []string{"version"}, 0, ""},
		{"no command", nil, 2, "custos: error: missing command"},
		{"group without subcommand", []string{"keys"}, 2, "custos: error: missing command"},
		{"unknown command", []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"unknown subcommand with suggestion", []string{"keys", "crate"}, 2, `did you mean "create"?`},
		{"unknown flag", []string{"keys", "get", "--bogus", testKey}, 2, "unknown flag: --bogus"},
		{"bad flag value", []string{"--timeout", "soon", "keys", "get", testKey}, 2, "invalid argument"},
		{"bad output format", []string{"-o", "yaml", "keys", "get", testKey}, 2, "--output must be text or json"},
		{"missing argument", []string{"keys", "get"}, 2, "missing argument KEY_NAME"},
		{"extra argument", []string{"keys", "get", testKey, "more"}, 2, `unexpected argument "more"`},
		{"bad resource name", []string{"keys", "get", "k"}, 2, "is not a key name"},
		{"wrong kind of name", []string{"keys", "get", testVersion}, 2, "names a key version, not a key"},
		{"api error", []string{"keys", "get", testKey}, 1, "custos: error: key not found (NOT_FOUND)"},
		{"bad enum value", []string{"keys", "create", testKey, "--purpose", "SHRED"}, 2, "--purpose: unknown value"},
		{"random length out of range", []string{"random", "projects/p/locations/l", "--length", "4"}, 2, "--length must be between 8 and 1024"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, srv.srv.URL, "", tc.args...)
			if r.code != tc.want {
				t.Fatalf("custos %s: exit %d, want %d; stderr:\n%s", strings.Join(tc.args, " "), r.code, tc.want, r.stderr)
			}
			if !strings.Contains(r.stderr, tc.stderrRE) {
				t.Errorf("stderr = %q, want it to contain %q", r.stderr, tc.stderrRE)
			}
			if tc.want == 2 && !strings.Contains(r.stderr, "custos: hint: run 'custos") {
				t.Errorf("usage error without a --help hint: %q", r.stderr)
			}
		})
	}
}

func TestExitCodeClassification(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, 0},
		{"usage", usageErrorf("bad"), 2},
		{"wrapped usage", fmt.Errorf("x: %w", usageErrorf("bad")), 2},
		{"usage with a hint", withHint(usageErrorf("bad"), "h"), 2},
		{"api", &APIError{HTTPStatus: 400, Status: "INVALID_ARGUMENT"}, 1},
		{"signature invalid", errSignatureInvalid, 1},
		{"mac invalid", errMACInvalid, 1},
		{"plain", errors.New("boom"), 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := exitCode(tc.err); got != tc.want {
				t.Errorf("exitCode(%v) = %d, want %d", tc.err, got, tc.want)
			}
		})
	}
}

func TestMissingConnectionSettings(t *testing.T) {
	tests := []struct {
		name   string
		env    map[string]string
		args   []string
		errMsg string
		hint   string
	}{
		{"no address", map[string]string{envToken: "t"}, nil,
			"custos: error: no server address", "custos: hint: set --addr or CUSTOS_ADDR"},
		{"no token", map[string]string{envAddr: "http://127.0.0.1:1"}, nil,
			"custos: error: no token", "custos: hint: set --token, --token-file, CUSTOS_TOKEN or CUSTOS_TOKEN_FILE"},
		{"empty token file", map[string]string{envAddr: "http://127.0.0.1:1"}, []string{"--token-file", "EMPTY"},
			"custos: error: the token from --token-file is empty", "custos: hint:"},
	}
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"keys", "get", testKey}
			for _, a := range tc.args {
				args = append(args, strings.ReplaceAll(a, "EMPTY", empty))
			}
			r := runEnv(t, tc.env, "", args...)
			if r.code != 1 {
				t.Fatalf("exit %d, want 1; stderr:\n%s", r.code, r.stderr)
			}
			if !strings.Contains(r.stderr, tc.errMsg) || !strings.Contains(r.stderr, tc.hint) {
				t.Errorf("stderr = %q, want %q and %q", r.stderr, tc.errMsg, tc.hint)
			}
		})
	}
}

func TestBadAddressIsUsageError(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:8200", "ftp://host", "http://", "http://h/?q=1"} {
		r := runEnv(t, map[string]string{envAddr: addr, envToken: "t"}, "", "keys", "get", testKey)
		if r.code != 2 {
			t.Errorf("CUSTOS_ADDR=%q: exit %d, want 2; stderr:\n%s", addr, r.code, r.stderr)
		}
	}
}

// TestFlagsOverrideEnvironment checks where the address and token come from.
func TestFlagsOverrideEnvironment(t *testing.T) {
	good := newFakeServer(t, map[string]func(request) reply{"GET /v1/" + testKey: ok(`{"name":"` + testKey + `"}`)})
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("  from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		env       map[string]string
		args      []string
		wantToken string
	}{
		{"env token", map[string]string{envAddr: good.srv.URL, envToken: "from-env"}, nil, "from-env"},
		{"env token file, trimmed", map[string]string{envAddr: good.srv.URL, envTokenFile: tokenFile}, nil, "from-file"},
		{"env token wins over env token file", map[string]string{envAddr: good.srv.URL, envToken: "from-env", envTokenFile: tokenFile}, nil, "from-env"},
		{"--token overrides env", map[string]string{envAddr: good.srv.URL, envToken: "from-env"}, []string{"--token", "from-flag"}, "from-flag"},
		{"--token-file overrides env token", map[string]string{envAddr: good.srv.URL, envToken: "from-env"}, []string{"--token-file", tokenFile}, "from-file"},
		{"--addr overrides env", map[string]string{envAddr: "http://127.0.0.1:1", envToken: "t"}, []string{"--addr", good.srv.URL}, "t"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append([]string{}, tc.args...), "keys", "get", testKey)
			runEnv(t, tc.env, "", args...).mustSucceed(t)
			if got, want := good.last().Auth, "Bearer "+tc.wantToken; got != want {
				t.Errorf("Authorization = %q, want %q", got, want)
			}
		})
	}
}

func TestTokenAndTokenFileConflict(t *testing.T) {
	r := runEnv(t, map[string]string{envAddr: "http://127.0.0.1:1"}, "", "--token", "a", "--token-file", "b", "keys", "get", testKey)
	if r.code != 2 {
		t.Fatalf("exit %d, want 2; stderr:\n%s", r.code, r.stderr)
	}
}

func TestOutputFromEnvironment(t *testing.T) {
	srv := newFakeServer(t, map[string]func(request) reply{"GET /v1/" + testKey: ok(`{"name":"` + testKey + `"}`)})
	r := runEnv(t, map[string]string{envAddr: srv.srv.URL, envToken: "t", envOutput: "json"}, "", "keys", "get", testKey).mustSucceed(t)
	if !strings.HasPrefix(r.stdout, "{") {
		t.Errorf("CUSTOS_OUTPUT=json: stdout = %q, want a JSON object", r.stdout)
	}
	r = runEnv(t, map[string]string{envAddr: srv.srv.URL, envToken: "t", envOutput: "json"}, "", "-o", "text", "keys", "get", testKey).mustSucceed(t)
	if !strings.HasPrefix(r.stdout, "Name:") {
		t.Errorf("-o text over CUSTOS_OUTPUT=json: stdout = %q, want text", r.stdout)
	}
}

// TestEveryCommandHasHelp checks that every command documents itself with
// a short line, a long text and examples.
func TestEveryCommandHasHelp(t *testing.T) {
	g := &globals{lookupEnv: func(string) (string, bool) { return "", false }}
	root := newRootCmd(g)
	root.InitDefaultHelpCmd()
	for _, c := range allCommands(root) {
		switch {
		case c.Hidden, c.Name() == "help", c.Name() == "server", c.Name() == "completion":
			continue // not ours
		}
		if c.Short == "" || c.Long == "" || c.Example == "" {
			t.Errorf("%q lacks Short, Long or Example", c.CommandPath())
		}
	}
}

func allCommands(c *cobra.Command) []*cobra.Command {
	out := []*cobra.Command{c}
	for _, sub := range c.Commands() {
		out = append(out, allCommands(sub)...)
	}
	return out
}

func TestCobraArgsErrorsAreUsageErrors(t *testing.T) {
	root := &cobra.Command{Use: "x"}
	sub := &cobra.Command{Use: "sub", Args: cobra.NoArgs, RunE: func(*cobra.Command, []string) error { return nil }}
	root.AddCommand(sub)
	markArgsErrorsAsUsage(root)
	if err := sub.Args(sub, []string{"extra"}); exitCode(err) != 2 {
		t.Errorf("cobra.NoArgs error after markArgsErrorsAsUsage = %v, exit %d; want a usage error", err, exitCode(err))
	}
	if err := sub.Args(sub, nil); err != nil {
		t.Errorf("no arguments: %v", err)
	}
}
