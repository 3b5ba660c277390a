// SPDX-License-Identifier: Apache-2.0

// Package cli implements the custos command line: the root command, the
// client commands that drive a Custos server through its public Cloud KMS v1
// REST API, and (from server.go) the server command.
//
// # Client commands
//
// Every client command builds one or more REST requests with the proto3 JSON
// mapping of the kmspb messages, sends them with [client], and prints the
// answer as text or, with --output json, as the server's JSON re-indented.
// The client never reaches into the server's packages: it is a user of the
// public API like any other.
//
// # Exit codes
//
// [Main] returns 0 on success, 1 for an error while doing the work (an API
// error, an I/O error, an invalid signature or MAC) and 2 for a usage error
// (an unknown command or flag, a wrong number of arguments, a bad flag value
// or resource name).
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// version is the CLI version, set at link time with
// -ldflags "-X github.com/custos-kms/custos/internal/cli.version=v1.2.3".
var version = ""

// Main runs the custos command line with args (without the program name),
// reading the environment with os.LookupEnv, and returns the process exit
// code: 0 on success, 1 on an error, 2 on a usage error. It never calls
// os.Exit, so tests can run it in process.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return run(args, stdin, stdout, stderr, os.LookupEnv)
}

// run is Main with the environment injected.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer, lookupEnv func(string) (string, bool)) int {
	g := &globals{lookupEnv: lookupEnv, stdin: stdin, stdout: stdout, stderr: stderr}
	root := newRootCmd(g)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteC()
	if err == nil {
		return 0
	}
	return reportError(stderr, cmd, err)
}

// globals holds the persistent flags and the I/O of one run.
type globals struct {
	addr      string
	token     string
	tokenFile string
	caCert    string
	output    string
	timeout   time.Duration

	flags     *pflag.FlagSet // the root's persistent flags, to tell set flags from defaults
	lookupEnv func(string) (string, bool)
	stdin     io.Reader
	stdout    io.Writer
	stderr    io.Writer
}

// Environment variables read by the client. Each flag overrides its variable.
const (
	envAddr      = "CUSTOS_ADDR"
	envToken     = "CUSTOS_TOKEN"
	envTokenFile = "CUSTOS_TOKEN_FILE"
	envCACert    = "CUSTOS_CACERT"
	envOutput    = "CUSTOS_OUTPUT"
	envTimeout   = "CUSTOS_TIMEOUT"
)

const rootLong = `custos is the command line of Custos, a key management service that speaks the
Google Cloud KMS v1 API.

"custos server" runs the server. Every other command is a client that talks to
a running server through its public REST API (the Cloud KMS v1 REST paths),
exactly like any other client.

Resources are named by their full Cloud KMS resource names:

  projects/P/locations/L                                        a location
  projects/P/locations/L/keyRings/R                             a key ring
  projects/P/locations/L/keyRings/R/cryptoKeys/K                a key
  projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/N
                                                                a key version

Connection settings (a flag overrides its environment variable):

  --addr         CUSTOS_ADDR        REST base URL, e.g. http://127.0.0.1:8200
  --token        CUSTOS_TOKEN       bearer token sent as "Authorization: Bearer ..."
  --token-file   CUSTOS_TOKEN_FILE  file holding the token (whitespace trimmed)
  --ca-cert      CUSTOS_CACERT      PEM CA bundle that signs an https server's certificate
  --output, -o   CUSTOS_OUTPUT      text (default) or json
  --timeout      CUSTOS_TIMEOUT     time limit for the whole command (default 30s, 0 = none)

With --output json every command prints exactly one JSON value on stdout: the
server's object (lowerCamel proto3 JSON, including any Custos extension fields)
for get, create and update commands, and one array holding every element of
every page for list commands. Notes and errors go to stderr.

Exit status: 0 on success; 1 on an error (an API error, an I/O error, an
invalid signature or MAC); 2 on a usage error (an unknown command or flag, a
wrong number of arguments, a bad flag value or resource name).`

const rootExample = `  export CUSTOS_ADDR=http://127.0.0.1:8200
  export CUSTOS_TOKEN_FILE=./data/admin-token

  custos keyrings create projects/p/locations/global/keyRings/app
  custos keys create projects/p/locations/global/keyRings/app/cryptoKeys/db
  echo -n secret | custos encrypt projects/p/locations/global/keyRings/app/cryptoKeys/db > secret.enc
  custos decrypt projects/p/locations/global/keyRings/app/cryptoKeys/db --in secret.enc
  custos keys list projects/p/locations/global/keyRings/app -o json`

// newRootCmd builds the whole command tree.
func newRootCmd(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:           "custos",
		Short:         "Custos key management service: server and command-line client",
		Long:          rootLong,
		Example:       rootExample,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          groupArgs,
		RunE:          groupRun,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return g.validate()
		},
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageErrorf("%v", err)
	})
	pf := root.PersistentFlags()
	pf.StringVar(&g.addr, "addr", "", "server REST base URL, e.g. http://127.0.0.1:8200 [$"+envAddr+"]")
	pf.StringVar(&g.token, "token", "", "bearer token [$"+envToken+"]")
	pf.StringVar(&g.tokenFile, "token-file", "", "read the bearer token from `FILE` [$"+envTokenFile+"]")
	pf.StringVar(&g.caCert, "ca-cert", "", "verify an https server with the PEM CA bundle in `FILE` [$"+envCACert+"]")
	pf.StringVarP(&g.output, "output", "o", "text", "output format: text or json [$"+envOutput+"]")
	pf.DurationVar(&g.timeout, "timeout", 30*time.Second, "time limit for the command, 0 for none [$"+envTimeout+"]")
	g.flags = pf

	root.AddCommand(
		newKeyRingsCmd(g),
		newKeysCmd(g),
		newVersionsCmd(g),
		newEncryptCmd(g),
		newDecryptCmd(g),
		newSignCmd(g),
		newVerifyCmd(g),
		newMACCmd(g),
		newPublicKeyCmd(g),
		newRandomCmd(g),
		newBYOKCmd(g),
		newSalesforceCmd(g),
		newAppsCmd(g),
		newIAMCmd(g),
		newAuditCmd(g),
		newStoreCmd(g),
		newAdminTokenCmd(g),
		newBarrierCmd(g),
		newQuotasCmd(g),
		newVersionCmd(g),
		newServerCmd(),
		newInitCmd(),
		newBenchCmd(g),
	)
	addImportCmds(root, g) // import-jobs, and keys import
	markArgsErrorsAsUsage(root)
	return root
}

// markArgsErrorsAsUsage makes every positional-argument check in the tree
// report a usage error (exit status 2), including checks written with
// cobra's own validators such as cobra.NoArgs.
func markArgsErrorsAsUsage(c *cobra.Command) {
	if check := c.Args; check != nil {
		c.Args = func(cmd *cobra.Command, args []string) error {
			err := check(cmd, args)
			var ue *usageError
			if err != nil && !errors.As(err, &ue) {
				return &usageError{err: err}
			}
			return err
		}
	}
	for _, sub := range c.Commands() {
		markArgsErrorsAsUsage(sub)
	}
}

// validate resolves the flags that every command uses (output, timeout) from
// flags and the environment. Connection settings are resolved later by
// [globals.client], so that commands that need no server never ask for them.
func (g *globals) validate() error {
	if v, ok := g.env("output", envOutput); ok {
		g.output = v
	}
	switch g.output {
	case "text", "json":
	default:
		return usageErrorf("--output must be text or json, not %q", g.output)
	}
	if v, ok := g.env("timeout", envTimeout); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			return usageErrorf("%s: %v", envTimeout, err)
		}
		g.timeout = d
	}
	if g.timeout < 0 {
		return usageErrorf("--timeout must not be negative")
	}
	return nil
}

// env returns the value of environment variable key when the flag named
// flag was not set on the command line.
func (g *globals) env(flag, key string) (string, bool) {
	if g.flags.Changed(flag) {
		return "", false
	}
	v, ok := g.lookupEnv(key)
	if !ok || v == "" {
		return "", false
	}
	return v, true
}

// json reports whether the output format is json.
func (g *globals) json() bool { return g.output == "json" }

// client resolves the connection settings and returns a client for them.
// A missing address or token is an error (exit 1) naming the flag and the
// environment variable that set it.
func (g *globals) client() (*client, error) {
	addr := g.addr
	if v, ok := g.env("addr", envAddr); ok {
		addr = v
	}
	if addr == "" {
		return nil, withHint(errors.New("no server address"),
			"set --addr or "+envAddr+", e.g. "+envAddr+"=http://127.0.0.1:8200")
	}
	base, err := url.Parse(addr)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" ||
		base.RawQuery != "" || base.Fragment != "" || base.User != nil {
		return nil, usageErrorf("server address %q is not an http:// or https:// URL like http://127.0.0.1:8200", addr)
	}

	token, err := g.resolveToken()
	if err != nil {
		return nil, err
	}

	caFile := g.caCert
	if v, ok := g.env("ca-cert", envCACert); ok {
		caFile = v
	}
	c, err := newClient(base, token, caFile)
	if err != nil {
		return nil, err
	}
	if base.Scheme == "http" && !isLoopback(base.Hostname()) {
		warnf(g.stderr, "sending the token over plain http to %s; use https", base.Host)
	}
	return c, nil
}

// resolveToken finds the token: --token, then --token-file, then
// CUSTOS_TOKEN, then CUSTOS_TOKEN_FILE.
func (g *globals) resolveToken() (string, error) {
	tokenSet, fileSet := g.flags.Changed("token"), g.flags.Changed("token-file")
	if tokenSet && fileSet {
		return "", usageErrorf("--token and --token-file are mutually exclusive")
	}
	var token, file, source string
	switch {
	case tokenSet:
		token, source = g.token, "--token"
	case fileSet:
		file, source = g.tokenFile, "--token-file"
	default:
		if v, ok := g.lookupEnv(envToken); ok && v != "" {
			token, source = v, envToken
		} else if v, ok := g.lookupEnv(envTokenFile); ok && v != "" {
			file, source = v, envTokenFile
		}
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("reading the token file (%s): %w", source, err)
		}
		token = string(b)
	}
	token = strings.TrimSpace(token)
	if token == "" {
		if source != "" {
			return "", withHint(fmt.Errorf("the token from %s is empty", source),
				"set a non-empty token with --token, --token-file, "+envToken+" or "+envTokenFile)
		}
		return "", withHint(errors.New("no token"),
			"set --token, --token-file, "+envToken+" or "+envTokenFile+
				" (a dev server writes an admin token to <data dir>/admin-token)")
	}
	if strings.ContainsAny(token, "\r\n") {
		return "", fmt.Errorf("the token from %s spans several lines", source)
	}
	return token, nil
}

// groupArgs accepts no positional arguments on a command that only groups
// subcommands, so that a mistyped subcommand is a usage error.
func groupArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 1 // a typo; 2 suggests "get" for "lst"
	}
	switch s := cmd.SuggestionsFor(args[0]); len(s) {
	case 0:
	case 1:
		return usageErrorf("%s; did you mean %q?", msg, s[0])
	default:
		return usageErrorf("%s; did you mean one of %q?", msg, s)
	}
	return usageErrorf("%s", msg)
}

// groupRun runs a command that only groups subcommands when no subcommand
// was named: it prints the usage to stderr and fails with a usage error.
func groupRun(cmd *cobra.Command, args []string) error {
	fmt.Fprint(cmd.ErrOrStderr(), cmd.UsageString())
	fmt.Fprintln(cmd.ErrOrStderr())
	return usageErrorf("missing command")
}

// exactArgs returns a positional-argument check for a command that takes
// exactly the named arguments.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) < len(names):
			return usageErrorf("missing argument %s", strings.Join(names[len(args):], " "))
		case len(args) > len(names):
			return usageErrorf("unexpected argument %q", args[len(names)])
		}
		return nil
	}
}

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the custos version",
		Long:  "Print the version of this custos binary, with the Go version and platform it was built for.",
		Example: `  custos version
  custos version -o json`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			v := cliVersion()
			if g.json() {
				return printValue(g.stdout, map[string]string{
					"version":  v,
					"go":       runtime.Version(),
					"platform": runtime.GOOS + "/" + runtime.GOARCH,
				})
			}
			_, err := fmt.Fprintf(g.stdout, "custos %s (%s %s/%s)\n", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
}

// cliVersion is the version set at link time, else the module version
// recorded by the go command, else "devel".
func cliVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// do resolves the client and runs f with a context bounded by --timeout.
// Commands parse their arguments before calling do, so that a usage error
// is reported before a missing address or token.
func (g *globals) do(cmd *cobra.Command, f func(ctx context.Context, c *client) error) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	if g.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, g.timeout)
		defer cancel()
	}
	return f(ctx, c)
}
