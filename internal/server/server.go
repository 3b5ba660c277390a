// SPDX-License-Identifier: Apache-2.0

// Package server wires Custos together: options -> storage -> keystore ->
// core -> adapters -> listeners, and shuts them down in reverse order.
package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/iam/apiv1/iampb"
	"cloud.google.com/go/kms/apiv1/kmspb"
	"google.golang.org/genproto/googleapis/cloud/location"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/proto"

	"github.com/custos-kms/custos/internal/api/admin"
	"github.com/custos-kms/custos/internal/api/grpcapi"
	"github.com/custos-kms/custos/internal/api/rest"
	"github.com/custos-kms/custos/internal/audit"
	"github.com/custos-kms/custos/internal/auth"
	"github.com/custos-kms/custos/internal/ekm"
	"github.com/custos-kms/custos/internal/iam"
	"github.com/custos-kms/custos/internal/integrity"
	"github.com/custos-kms/custos/internal/keystore"
	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/metrics"
	"github.com/custos-kms/custos/internal/storage"
)

// Options are the server's settings, from flags (and later a config file).
type Options struct {
	Dev                 bool
	DataDir             string
	Listen              string // REST, e.g. 127.0.0.1:8200
	GRPCListen          string // gRPC, e.g. 127.0.0.1:8201
	AllowShortDurations bool   // dev only: rotation and destroy periods down to 1 s
	// RootKeyFile holds the root key outside dev mode (hex, mode 0600); the
	// operator provisions it (custos init) and keeps it apart from the data.
	RootKeyFile string
	// Out receives what is shown once to the operator: the first admin
	// token of a production server. Default os.Stdout.
	Out io.Writer
	// TLSCert and TLSKey switch both listeners to TLS; with TLSClientCA,
	// clients may also authenticate with a certificate (mTLS).
	TLSCert, TLSKey, TLSClientCA string
	// Cloud EKM: where Google's signing keys are (a local issuer in tests),
	// which audiences its ID tokens may carry (default: the public URL's
	// origin, with and without its port), and how long Google may cache an
	// unwrapped key (0: not at all, so that a refusal takes effect at once).
	EKMJWKSURL       string
	EKMAudiences     []string
	EKMCacheDuration time.Duration
	// MetricsListen, if set, serves /metrics (Prometheus text) there, and
	// with DebugPprof also /debug/pprof/ (loopback only).
	MetricsListen string
	DebugPprof    bool
	// PublicURL is the base of the URLs Custos hands out (external key
	// URIs, the OAuth2 token_uri). Default: http(s)://{Listen}.
	PublicURL string
	// IntegrityScanInterval is how often the server scans its whole store
	// (internal/integrity); 0: only when asked (custos store verify).
	IntegrityScanInterval time.Duration
	Logger                *slog.Logger
}

// TLS reports whether the listeners serve TLS.
func (o *Options) TLS() bool { return o.TLSCert != "" }

// Validate reports every problem with the options at once.
func (o *Options) Validate() error {
	var errs []error
	if !o.Dev && o.RootKeyFile == "" {
		errs = append(errs, errors.New("production mode needs --root-key-file (create one with custos init), or run with --dev"))
	}
	if o.Dev && o.RootKeyFile != "" {
		errs = append(errs, errors.New("--root-key-file is for production mode; dev mode keeps its root key in the data folder"))
	}
	if !o.Dev && o.RootKeyFile != "" && o.DataDir != "" && inside(mustAbs(o.RootKeyFile), mustAbs(o.DataDir)) {
		errs = append(errs, errors.New("--root-key-file must be outside the data folder: whoever copies the data must not get the key with it"))
	}
	if o.DebugPprof {
		if o.MetricsListen == "" {
			errs = append(errs, errors.New("--debug-pprof needs --metrics-listen"))
		} else if err := checkLoopback(o.MetricsListen); err != nil {
			errs = append(errs, fmt.Errorf("--debug-pprof: --metrics-listen %s: %w", o.MetricsListen, err))
		}
	}
	if o.AllowShortDurations && !o.Dev {
		errs = append(errs, errors.New("--dev-allow-short-durations is only accepted with --dev"))
	}
	if o.DataDir == "" {
		errs = append(errs, errors.New("--data must name a folder"))
	}
	if o.IntegrityScanInterval < 0 || o.IntegrityScanInterval > 0 && o.IntegrityScanInterval < time.Minute {
		errs = append(errs, fmt.Errorf("--integrity-scan-interval %v: must be 0 (only on demand) or at least 1m", o.IntegrityScanInterval))
	}
	if (o.TLSCert == "") != (o.TLSKey == "") {
		errs = append(errs, errors.New("--tls-cert and --tls-key go together"))
	}
	if o.TLSClientCA != "" && o.TLSCert == "" {
		errs = append(errs, errors.New("--tls-client-ca needs --tls-cert and --tls-key"))
	}
	for flag, addr := range map[string]string{"--listen": o.Listen, "--grpc-listen": o.GRPCListen} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			errs = append(errs, fmt.Errorf("%s %s: not a host:port address", flag, addr))
		} else if err := checkLoopback(addr); err != nil && !o.TLS() {
			errs = append(errs, fmt.Errorf("%s %s: %w", flag, addr, err))
		}
	}
	return errors.Join(errs...)
}

// tlsConfig loads the certificate and the client CA, or returns nil
// without TLS. Client certificates are verified when offered, not required:
// bearer tokens stay usable on the same listener.
func (o *Options) tlsConfig() (*tls.Config, error) {
	if !o.TLS() {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(o.TLSCert, o.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if o.TLSClientCA != "" {
		pemBytes, err := os.ReadFile(o.TLSClientCA)
		if err != nil {
			return nil, fmt.Errorf("TLS client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemBytes) {
			return nil, fmt.Errorf("TLS client CA %s holds no PEM certificate", o.TLSClientCA)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return cfg, nil
}

// checkLoopback refuses a non-loopback address: without TLS, credentials
// and key material would cross the network in the clear.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("not a host:port address")
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return errors.New("without TLS the server only listens on loopback addresses (127.0.0.1, [::1], localhost)")
	}
	return nil
}

// Server is a running Custos server.
type Server struct {
	opts  Options
	log   *slog.Logger
	store storage.Store
	// scanner runs the integrity scans; nil for a store that cannot be
	// read whole.
	scanner *integrity.Scanner
	// tokens changes the admin token, and publishes the dev token file.
	tokens *adminTokens
	svc    *kms.Service
	audit  *audit.Log
	quotas *iam.Quotas
	apps   *auth.Apps
	ekm    *ekm.Handler
	// metrics counts calls by method; served on --metrics-listen.
	metrics    *metrics.Registry
	metricsLn  net.Listener
	metricsSrv *http.Server
	// publicURL is the base of external key URIs and the token endpoint.
	publicURL string
	httpSrv   *http.Server
	grpcSrv   *grpc.Server
	httpLn    net.Listener
	grpcLn    net.Listener
	token     string
	stopOnce  sync.Once
	unlock    func() // releases the data folder
	cancel    context.CancelFunc
	wg        sync.WaitGroup
}

const (
	adminTokenFile = "admin-token"
	rootKeyFile    = "root-key"
	dbFile         = "custos.db"
)

// Start builds everything and starts serving. It returns once both
// listeners accept requests and the admin token file is written.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Server{opts: opts, log: log}
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data folder: %w", err)
	}
	// Before anything in the folder is touched (the token file of a
	// server already running there, say).
	unlock, err := lockDataDir(opts.DataDir)
	if err != nil {
		return nil, err
	}
	s.unlock = unlock
	// ok is set once the server serves; until then, each defer below
	// undoes its step (the store closes before the folder is released).
	ok := false
	defer func() {
		if !ok {
			unlock()
		}
	}()
	tokenPath := filepath.Join(opts.DataDir, adminTokenFile)
	if err := os.Remove(tokenPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove old admin token: %w", err)
	}

	store, ks, err := openStore(ctx, opts, log)
	if err != nil {
		return nil, err
	}
	s.store = store
	defer func() {
		if !ok {
			store.Close()
		}
	}()
	var adminHash [32]byte
	if opts.Dev {
		if s.token, err = devAdminToken(ctx, store, ks); err != nil {
			return nil, err
		}
		adminHash = sha256.Sum256([]byte(s.token))
	} else {
		out := opts.Out
		if out == nil {
			out = os.Stdout
		}
		if adminHash, err = firstAdmin(ctx, store, ks, out); err != nil {
			return nil, err
		}
	}

	// Listen early: the public URL (in external key URIs and the token_uri
	// of key files) must name the bound address, also with port 0.
	tlsCfg, err := opts.tlsConfig()
	if err != nil {
		return nil, err
	}
	if s.httpLn, err = net.Listen("tcp", opts.Listen); err != nil {
		return nil, fmt.Errorf("REST listener: %w", err)
	}
	if s.grpcLn, err = net.Listen("tcp", opts.GRPCListen); err != nil {
		s.httpLn.Close()
		return nil, fmt.Errorf("gRPC listener: %w", err)
	}
	defer func() {
		if !ok {
			s.httpLn.Close()
			s.grpcLn.Close()
		}
	}()
	scheme := "http"
	if tlsCfg != nil {
		// gRPC does its own handshake (credentials.NewTLS); HTTP gets a
		// TLS listener that also speaks HTTP/2.
		hcfg := tlsCfg.Clone()
		hcfg.NextProtos = []string{"h2", "http/1.1"}
		s.httpLn = tls.NewListener(s.httpLn, hcfg)
		scheme = "https"
	}
	if s.publicURL = strings.TrimSuffix(opts.PublicURL, "/"); s.publicURL == "" {
		s.publicURL = scheme + "://" + s.httpLn.Addr().String()
	}

	minPeriod := time.Duration(0)
	if opts.AllowShortDurations {
		minPeriod = time.Second
		log.Warn("DEV: rotation periods and destroy-scheduled durations may be as short as 1s")
	}
	s.audit, err = audit.Open(ctx, store, ks, ks.Derive(audit.ChainKeyInfo, 32), log)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	defer func() {
		if !ok {
			s.audit.Close()
		}
	}()
	// The authorizer answers NOT_FOUND for IAM methods through the core,
	// which itself needs the authorizer: a closure breaks the loop.
	policies, err := iam.New(iam.Config{
		Store: store, Signer: ks, Auditor: s.audit, Logger: log,
		Exists: func(ctx context.Context, name string) error { return s.svc.Exists(ctx, name) },
	})
	if err != nil {
		return nil, err
	}
	s.quotas, err = iam.NewQuotas(ctx, iam.QuotasConfig{Store: store, Signer: ks, Auditor: s.audit})
	if err != nil {
		return nil, err
	}
	authz := iam.WithQuotas(policies, s.quotas)
	s.metrics = metrics.New()
	s.metrics.AddCounter("custos_audit_write_failures_total", "Audit entries that could not be written (the calls failed).", s.audit.Failures)
	s.metrics.AddCounter("custos_audit_entries_total", "Audit entries written.", func() uint64 { n, _, _ := s.audit.Written(); return n })
	s.metrics.AddCounter("custos_audit_commits_total", "Durable commits that wrote audit entries; entries per commit is how well concurrent calls share them.", func() uint64 { _, n, _ := s.audit.Written(); return n })
	s.metrics.AddWriter(func(w io.Writer) error {
		_, _, took := s.audit.Written()
		_, err := fmt.Fprintf(w, "# HELP custos_audit_commit_seconds_total Time the durable audit commits took (each audited call waits for one).\n# TYPE custos_audit_commit_seconds_total counter\ncustos_audit_commit_seconds_total %g\n", took.Seconds())
		return err
	})
	s.svc = kms.New(kms.Config{
		Store: store, Keystore: ks, Authorizer: authz, Auditor: s.audit, Logger: log,
		MinRotationPeriod: minPeriod, MinDestroyDuration: minPeriod,
		Observe: s.metrics.Observe,
	})
	s.apps, err = auth.NewApps(auth.AppsConfig{
		Store: store, Keystore: ks, Authorizer: authz, Auditor: s.audit, Logger: log,
		PublicURL: s.publicURL, Forget: policies,
	})
	if err != nil {
		return nil, err
	}
	authn := auth.NewWithAdminHash(adminHash, s.apps)
	tokens := &adminTokens{store: store, ks: ks, authn: authn, audit: s.audit, log: log}
	if opts.Dev {
		tokens.tokenPath, tokens.devToken = tokenPath, s.token
	}
	s.tokens = tokens
	kmsServer := grpcapi.New(s.svc)
	iamServer := grpcapi.NewIAMServer(policies)
	locations := &grpcapi.Locations{}

	// gRPC
	grpcOpts := []grpc.ServerOption{
		grpc.UnaryInterceptor(grpcapi.UnaryInterceptor(authn, log)),
		grpc.MaxRecvMsgSize(1 << 20),
	}
	if tlsCfg != nil {
		grpcOpts = append(grpcOpts, grpc.Creds(credentials.NewTLS(tlsCfg)))
	}
	s.grpcSrv = grpc.NewServer(grpcOpts...)
	kmspb.RegisterKeyManagementServiceServer(s.grpcSrv, kmsServer)
	location.RegisterLocationsServer(s.grpcSrv, locations)
	iampb.RegisterIAMPolicyServer(s.grpcSrv, iamServer)

	// REST
	handler, err := rest.New(rest.Config{
		KMS:          kmsServer,
		IAM:          iamServer,
		Locations:    locations,
		Authenticate: httpAuthenticator(authn),
		ExtraQuery: map[string][]string{
			"google.cloud.kms.v1.KeyManagementService/CreateCryptoKey": {"exportable"},
		},
		Decorate: s.decorate,
		WithQuery: func(ctx context.Context, method string, params url.Values) (context.Context, error) {
			if v := params.Get("exportable"); v != "" {
				on, err := grpcapi.ParseExportable("exportable", v)
				if err != nil {
					return nil, err
				}
				ctx = grpcapi.WithExportable(ctx, on)
			}
			return ctx, nil
		},
		Sanitize: func(err error) error { return grpcapi.Sanitize(err, log) },
	})
	if err != nil {
		return nil, err
	}
	adminAPI := admin.New(httpAuthenticator(authn))
	admin.RegisterAudit(adminAPI, s.audit, authz)
	admin.RegisterIAM(adminAPI, grpcapi.NewAdminIAMServer(policies), policies)
	admin.RegisterQuotas(adminAPI, s.quotas)
	admin.RegisterApps(adminAPI, s.apps)
	admin.RegisterToken(adminAPI, s.apps)
	admin.RegisterAdminToken(adminAPI, tokens.rotate)
	barrier := &barrierKeys{store: store, ks: ks, svc: s.svc, audit: s.audit}
	admin.RegisterBarrier(adminAPI, barrier.rotate, barrier.reseal)
	admin.RegisterBYOK(adminAPI, s.svc)
	if src, ok := store.(integrity.Source); ok {
		s.scanner = integrity.NewScanner(src, ks, log)
		admin.RegisterStore(adminAPI, s.scanner.Scan)
		s.metrics.AddWriter(s.scanner.WriteMetrics)
	} else {
		admin.RegisterStore(adminAPI, nil)
	}
	mux := http.NewServeMux()
	mux.Handle("/", handler)
	mux.Handle("/admin/", adminAPI)
	mux.Handle("/oauth2/", adminAPI)
	mux.Handle(admin.SalesforcePath, admin.RegisterSalesforce(adminAPI, admin.SalesforceConfig{Store: store, Signer: ks, KMS: s.svc, Authenticator: authn, Auditor: s.audit, PublicURL: s.publicURL, Logger: log}))
	if err := s.mountEKM(mux, adminAPI, authz, ks); err != nil {
		return nil, err
	}
	s.metrics.AddWriter(func(w io.Writer) error { return s.ekm.Metrics().WriteText(w) })
	if err := s.startMetrics(); err != nil {
		return nil, err
	}
	s.httpSrv = &http.Server{
		Handler:           withResponseWriter(mux),
		ReadHeaderTimeout: 10 * time.Second,
		// A request body (64 KiB of plaintext at most) trickling in for
		// longer is an attack on the connection pool, not a client.
		ReadTimeout: 30 * time.Second,
		IdleTimeout: 120 * time.Second,
		ErrorLog:    slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	runCtx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(5)
	go func() {
		defer s.wg.Done()
		if s.scanner != nil {
			s.scanner.Run(runCtx, opts.IntegrityScanInterval)
		}
	}()
	go func() {
		defer s.wg.Done()
		s.audit.RunHeadLogger(runCtx, time.Minute)
	}()
	go func() {
		defer s.wg.Done()
		if err := s.httpSrv.Serve(s.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("REST server stopped", "err", err)
		}
	}()
	go func() {
		defer s.wg.Done()
		if err := s.grpcSrv.Serve(s.grpcLn); err != nil {
			log.Error("gRPC server stopped", "err", err)
		}
	}()
	go func() {
		defer s.wg.Done()
		s.svc.RunScheduler(runCtx, time.Second)
	}()

	// The listeners accept connections from here on: publish the token.
	if opts.Dev {
		if err := tokens.publish(); err != nil {
			s.Stop()
			return nil, fmt.Errorf("write admin token: %w", err)
		}
	}
	ok = true
	log.Info("custos is serving", "rest", scheme+"://"+s.httpLn.Addr().String(), "tls", tlsCfg != nil, "mtls", opts.TLSClientCA != "", "grpc", s.grpcLn.Addr().String(), "data", opts.DataDir)
	if opts.Dev {
		log.Info("DEV: the admin token is in "+tokenPath+" (it grants every permission)", "token_file", tokenPath)
	}
	return s, nil
}

// RESTAddr and GRPCAddr are the bound addresses (useful with port 0).
func (s *Server) RESTAddr() string { return s.httpLn.Addr().String() }
func (s *Server) GRPCAddr() string { return s.grpcLn.Addr().String() }

// Stop shuts the server down gracefully: no new calls, running calls
// finish (up to a deadline), then storage closes.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		// First withdraw the token file, so that a supervisor waiting for
		// the next start never reads a file from this run (nor one a
		// rotation still under way would write).
		if s.tokens != nil {
			s.tokens.close()
		} else {
			os.Remove(filepath.Join(s.opts.DataDir, adminTokenFile))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.httpSrv.Shutdown(ctx)
		if s.metricsSrv != nil {
			s.metricsSrv.Shutdown(ctx)
		}
		stopped := make(chan struct{})
		go func() { s.grpcSrv.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-ctx.Done():
			s.grpcSrv.Stop()
		}
		s.cancel()
		s.wg.Wait()
		s.audit.Close()
		s.store.Close()
		s.unlock()
		s.log.Info("custos stopped")
	})
}

// devAdminToken returns the dev admin token, creating it on first start. It
// is kept sealed in the store so that restarts hand out the same token.
func devAdminToken(ctx context.Context, store storage.Store, ks *keystore.Keystore) (string, error) {
	rec, err := store.Get(ctx, keystore.DevAdminTokenName)
	if err == nil {
		if err := ks.Verify(rec); err != nil {
			return "", err
		}
		tok, err := ks.Unseal(keystore.DevAdminTokenName, rec.Data)
		if err != nil {
			return "", fmt.Errorf("admin token: %w", err)
		}
		return string(tok), nil
	}
	if !errors.Is(err, storage.ErrNotFound) {
		return "", fmt.Errorf("read admin token: %w", err)
	}
	tok, err := auth.NewAdminToken()
	if err != nil {
		return "", err
	}
	rec = adminTokenRecord(ks, true, tok)
	if err := store.Update(ctx, func(tx storage.Tx) error { return tx.Create(ctx, rec) }); err != nil {
		return "", fmt.Errorf("store admin token: %w", err)
	}
	return tok, nil
}

// writeFileAtomic writes a temporary file and renames it into place, so
// that a reader sees either no file or the whole file.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := fmt.Sprintf("%s.tmp-%x", path, randSuffix())
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

func randSuffix() []byte {
	b := make([]byte, 4)
	rand.Read(b)
	return b
}

// httpAuthenticator authenticates a REST request: its bearer token or TLS
// client certificate. It sets the X-Request-Id answer header.
func httpAuthenticator(a grpcapi.Authenticator) func(r *http.Request) (context.Context, error) {
	return func(r *http.Request) (context.Context, error) {
		req := auth.Request{
			Token:      grpcapi.BearerToken(r.Header.Get("Authorization")),
			ClientAddr: r.RemoteAddr,
			RequestID:  grpcapi.NewRequestID(),
		}
		if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
			req.ClientCert = r.TLS.PeerCertificates[0]
		}
		if w, ok := r.Context().Value(responseWriterKey{}).(http.ResponseWriter); ok {
			w.Header().Set("X-Request-Id", req.RequestID)
		}
		c, err := a.Authenticate(r.Context(), req)
		if err != nil {
			return nil, err
		}
		return kms.WithCaller(r.Context(), c), nil
	}
}

// responseWriterKey lets the authenticator set answer headers: the REST
// handler only hands it the request.
type responseWriterKey struct{}

// withResponseWriter puts the ResponseWriter in the request's context.
func withResponseWriter(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), responseWriterKey{}, w)))
	})
}

// decorate adds Custos's own fields to a CryptoKey's REST JSON: the Cloud
// EKM key URI and whether the key is exportable. Cloud KMS's message has no
// field for them, so official clients never see them.
func (s *Server) decorate(ctx context.Context, m proto.Message) map[string]any {
	k, ok := m.(*kmspb.CryptoKey)
	if !ok {
		return nil
	}
	id, exportable, err := s.svc.KeyExtras(ctx, k.GetName())
	if err != nil {
		return nil
	}
	extra := map[string]any{"exportable": exportable}
	if id != "" {
		extra["externalKeyUri"] = s.publicURL + "/ekm/v0/keys/" + id
	}
	return extra
}
