// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/custos-kms/custos/internal/config"
	"github.com/custos-kms/custos/internal/server"
)

// newServerCmd builds `custos server`.
func newServerCmd() *cobra.Command {
	var opts server.Options
	var configFile string
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the Custos server",
		Long: `Run the Custos server: the Cloud KMS v1 API over REST (--listen) and gRPC
(--grpc-listen), on an embedded store in the data folder.

Production mode needs a root key file (--root-key-file), created with
"custos init", which also creates the first admin and prints its token once.
Keep the root key file apart from the data folder (another disk, a secret
store mounted at start): whoever has both can read every key.

In dev mode the root key is kept in a plain file in the data folder and an
admin token that grants every permission is written to DATA/admin-token once
the server accepts requests. Dev mode is for development and tests only.

Without TLS the server only listens on loopback addresses. With --tls-cert and
--tls-key both listeners serve TLS; with --tls-client-ca, clients may also
authenticate with a client certificate bound to an app (mutual TLS).`,
		Example: `  # Run a dev server with its data in ./custos-data
  custos server --dev --data ./custos-data

  # Then, in another shell
  export CUSTOS_ADDR=http://127.0.0.1:8200
  export CUSTOS_TOKEN=$(cat ./custos-data/admin-token)
  custos keyrings create projects/demo/locations/global/keyRings/ring1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if configFile != "" {
				// The server's own flags only: the client's connection
				// flags (--ca-cert, --token, --output ...) are in
				// cmd.Flags() too, and a file setting them would be
				// accepted and do nothing.
				if err := config.Load(configFile, cmd.LocalNonPersistentFlags()); err != nil {
					return err
				}
			}
			opts.Logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelInfo}))
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			srv, err := server.Start(ctx, opts)
			if err != nil {
				return fmt.Errorf("cannot start: %w", err)
			}
			<-ctx.Done()
			opts.Logger.Info("shutting down")
			srv.Stop()
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&configFile, "config", serverEnv("CUSTOS_CONFIG", ""), "configuration file (.yaml, .toml or .json) whose settings are these flags by name, e.g. listen: 0.0.0.0:8200; flags given on the command line win (env CUSTOS_CONFIG)")
	f.StringVar(&opts.RootKeyFile, "root-key-file", serverEnv("CUSTOS_ROOT_KEY_FILE", ""), "production: file holding the root key (hex, mode 0600, kept apart from the data folder; create it with custos init) (env CUSTOS_ROOT_KEY_FILE)")
	f.BoolVar(&opts.Dev, "dev", serverEnvBool("CUSTOS_DEV"), "development mode: root key in a plain file, admin token in DATA/admin-token (env CUSTOS_DEV)")
	f.StringVar(&opts.DataDir, "data", serverEnv("CUSTOS_DATA", "custos-data"), "data folder: the embedded store, and in dev mode the root key and admin token (env CUSTOS_DATA)")
	f.StringVar(&opts.Listen, "listen", serverEnv("CUSTOS_LISTEN", "127.0.0.1:8200"), "REST/JSON listen address (env CUSTOS_LISTEN)")
	f.StringVar(&opts.GRPCListen, "grpc-listen", serverEnv("CUSTOS_GRPC_LISTEN", "127.0.0.1:8201"), "gRPC listen address (env CUSTOS_GRPC_LISTEN)")
	f.StringVar(&opts.TLSCert, "tls-cert", serverEnv("CUSTOS_TLS_CERT", ""), "PEM certificate (chain) for TLS on both listeners (env CUSTOS_TLS_CERT)")
	f.StringVar(&opts.TLSKey, "tls-key", serverEnv("CUSTOS_TLS_KEY", ""), "PEM private key of --tls-cert (env CUSTOS_TLS_KEY)")
	f.StringVar(&opts.TLSClientCA, "tls-client-ca", serverEnv("CUSTOS_TLS_CLIENT_CA", ""), "PEM CA bundle for client certificates: enables mutual TLS (env CUSTOS_TLS_CLIENT_CA)")
	f.StringVar(&opts.PublicURL, "public-url", serverEnv("CUSTOS_PUBLIC_URL", ""), "public base URL of this server, used in external key URIs and the OAuth2 token_uri; may differ from the listener behind a proxy (default http(s)://{--listen}) (env CUSTOS_PUBLIC_URL)")
	f.StringVar(&opts.EKMJWKSURL, "ekm-jwks-url", serverEnv("CUSTOS_EKM_JWKS_URL", "https://www.googleapis.com/oauth2/v3/certs"), "Cloud EKM: where the keys that sign Google's ID tokens are published (a local issuer in tests) (env CUSTOS_EKM_JWKS_URL)")
	f.StringArrayVar(&opts.EKMAudiences, "ekm-audience", serverEnvList("CUSTOS_EKM_AUDIENCE"), "Cloud EKM: an accepted aud of Google's ID tokens; repeatable (default: the --public-url origin, scheme://host, with and without its port) (env CUSTOS_EKM_AUDIENCE, comma-separated)")
	f.DurationVar(&opts.EKMCacheDuration, "ekm-cache-duration", serverEnvDuration("CUSTOS_EKM_CACHE_DURATION", 0), "Cloud EKM: how long Google may cache an unwrapped key (allowedCacheDuration); 0 omits it, so a revocation applies to the next call; a longer one delays revocations by as much (env CUSTOS_EKM_CACHE_DURATION)")
	f.StringVar(&opts.MetricsListen, "metrics-listen", serverEnv("CUSTOS_METRICS_LISTEN", ""), "serve Prometheus metrics at http://ADDR/metrics, on a listener of their own (off by default) (env CUSTOS_METRICS_LISTEN)")
	f.DurationVar(&opts.IntegrityScanInterval, "integrity-scan-interval", serverEnvDuration("CUSTOS_INTEGRITY_SCAN_INTERVAL", 24*time.Hour), "scan the whole store this often (every record's MAC, every sealed key, the audit chain; see custos store verify), the first one interval after the start; 0 only on demand, else at least 1m (env CUSTOS_INTEGRITY_SCAN_INTERVAL)")
	f.BoolVar(&opts.DebugPprof, "debug-pprof", false, "also serve Go's /debug/pprof/ on --metrics-listen (loopback addresses only)")
	f.BoolVar(&opts.AllowShortDurations, "dev-allow-short-durations", false, "dev only: allow rotation periods and destroy-scheduled durations down to 1s, for tests")
	return cmd
}

func serverEnv(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}

func serverEnvBool(name string) bool {
	switch os.Getenv(name) {
	case "1", "true", "TRUE", "yes":
		return true
	}
	return false
}

// newInitCmd builds `custos init`.
func newInitCmd() *cobra.Command {
	var o server.InitOptions
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Prepare a production server: root key file, store, first admin",
		Long: `Prepare a production server. init creates the root key file if it does not
exist (mode 0600), the store in the data folder, and the first admin, whose
token it prints once on standard output. Only a hash of the token is kept:
store it in your secret manager at once.

Running init again on a prepared folder changes nothing and prints no token.

With --new-admin-token, init gives a prepared folder a new admin token and
prints it once: the way back in when the token is lost or may have leaked
(a running server changes it with "custos admin-token rotate"). The server
must be stopped; the change is recorded in the audit log (RotateAdminToken,
by local:custos-init), and the next server refuses the old token.`,
		Example: `  custos init --data /var/lib/custos --root-key-file /run/secrets/custos-root-key > admin-token
  custos init --data /var/lib/custos --root-key-file /run/secrets/custos-root-key --new-admin-token > admin-token
  custos server --data /var/lib/custos --root-key-file /run/secrets/custos-root-key \
      --tls-cert cert.pem --tls-key key.pem --listen 0.0.0.0:8200 --grpc-listen 0.0.0.0:8201`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Out = cmd.OutOrStdout()
			return server.Init(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.DataDir, "data", serverEnv("CUSTOS_DATA", "custos-data"), "data folder (env CUSTOS_DATA)")
	cmd.Flags().StringVar(&o.RootKeyFile, "root-key-file", serverEnv("CUSTOS_ROOT_KEY_FILE", ""), "root key file to create or use (env CUSTOS_ROOT_KEY_FILE)")
	cmd.Flags().BoolVar(&o.NewAdminToken, "new-admin-token", false, "replace the admin token of a prepared folder with a new one, printed once (the server must be stopped)")
	return cmd
}
