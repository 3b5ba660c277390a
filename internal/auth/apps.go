// SPDX-License-Identifier: Apache-2.0

package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"google.golang.org/grpc/codes"

	"github.com/custos-kms/custos/internal/keystore"
	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/resource"
	"github.com/custos-kms/custos/internal/storage"
)

// Permissions of the app methods, each checked on the app's home project
// (projects/_ for an app without one).
const (
	PermAppsCreate    = "custos.apps.create"
	PermAppsGet       = "custos.apps.get"
	PermAppsList      = "custos.apps.list"
	PermAppsUpdate    = "custos.apps.update"
	PermAppsDelete    = "custos.apps.delete"
	PermAppKeysCreate = "custos.appKeys.create"
	PermAppKeysList   = "custos.appKeys.list"
	PermAppKeysDelete = "custos.appKeys.delete"
)

// NoProject is the project id that stands for "no home project" in
// authorization: apps without a home project are governed by the policy of
// projects/_. "_" is not a valid project id, so no real project has it.
const NoProject = "_"

// Keystore is what [Apps] needs from the keystore: record MACs, and a key
// derived from the root key for access tokens.
type Keystore interface {
	// Sign sets r.MAC.
	Sign(r *storage.Record)
	// Verify returns an error unless r.MAC authenticates r.
	Verify(r storage.Record) error
	// Derive returns a sub-key of the root key for one purpose.
	Derive(info string, n int) []byte
}

var _ Keystore = (*keystore.Keystore)(nil)

// AppsConfig is what [Apps] is built from.
type AppsConfig struct {
	Store      storage.Store
	Keystore   Keystore
	Authorizer kms.Authorizer
	Auditor    kms.Auditor // nil: nothing recorded
	Logger     *slog.Logger
	// Now is the clock; time.Now if nil.
	Now func() time.Time
	// PublicURL is the server's public base URL as clients reach it, such
	// as https://kms.example.com. The service-account key files name
	// PublicURL + "/oauth2/token" as their token_uri, and a JWT whose aud
	// is PublicURL is meant for this server.
	PublicURL string
	// OtherURLs are other base URLs the server is reached under (a load
	// balancer's name, a loopback address); JWTs addressed to them are
	// accepted too.
	OtherURLs []string
	// CacheSize bounds the number of records and of verified JWTs held in
	// memory; 10 000 each if 0.
	CacheSize int
	// CacheTTL is how long a cached app or key record is trusted before it
	// is read again. Changes made on this node invalidate it at once; this
	// bounds how late changes made by other nodes (sharing the store) are
	// seen. 5 s if 0.
	CacheTTL time.Duration
	// Forget, if set, takes a deleted app out of what grants it access,
	// in the deletion's transaction (*iam.Authorizer does).
	Forget AppForgetter
}

// AppForgetter takes a deleted app out of the IAM policies and groups that
// name it, so that an app created later under the same name does not
// inherit them.
type AppForgetter interface {
	// ForgetApp does it inside tx and returns the records it changed.
	ForgetApp(ctx context.Context, tx storage.Tx, app string) ([]string, error)
	// Forgot is called once the transaction has ended.
	Forgot()
}

// Apps manages apps, the service identities of projects, and their
// credentials: API keys, service-account key files and client
// certificates. Every management method authorizes its caller first and
// records the outcome with the auditor (never with a secret). Safe for
// concurrent use.
//
// # Service-account JWTs
//
// A JWT sent as the bearer token (what the official clients do with a key
// file, without calling token_uri) is accepted if: it is RS256 (no other
// algorithm, never none or HS*); its kid names an active google-json key;
// the signature verifies; iss = sub = the key's client_email; it has iat
// and exp, exp - iat <= 1 h, iat <= now + 60 s, now < exp + 60 s, nbf (if
// any) <= now + 60 s; every non-empty aud is this server's base URL
// (PublicURL or OtherURLs, with or without a final slash) or
// https://cloudkms.googleapis.com(/); and, if it has no aud, its scope
// holds cloud-platform or cloudkms. A JWT addressed to another service is
// refused even with a good scope, so that it cannot be replayed here. Each
// part must be canonical base64url, so that a JWT has one spelling.
//
// The token endpoint's assertion ([Apps.IssueAccessToken]) follows the
// same rules but with aud = the token_uri, sub absent or = iss, and a
// scope required.
type Apps struct {
	store storage.Store
	ks    Keystore
	authz kms.Authorizer
	audit kms.Auditor
	log   *slog.Logger
	now   func() time.Time

	publicURL string
	tokenURLs map[string]bool // accepted aud of a token-endpoint assertion
	audiences map[string]bool // accepted aud of a bearer JWT
	macPool   sync.Pool       // of hash.Hash: HMAC-SHA256 under the access-token key (secret)

	cache  *stateCache
	tokens *lru.Cache[[32]byte, verifiedToken]
	forget AppForgetter // nil: nothing to forget
}

// NewApps builds an Apps. It fails if PublicURL or an OtherURLs entry is not
// an absolute http or https URL without query or fragment.
func NewApps(cfg AppsConfig) (*Apps, error) {
	if cfg.Store == nil || cfg.Keystore == nil || cfg.Authorizer == nil {
		return nil, errors.New("auth: Store, Keystore and Authorizer are required")
	}
	a := &Apps{
		store:     cfg.Store,
		ks:        cfg.Keystore,
		authz:     cfg.Authorizer,
		audit:     cfg.Auditor,
		log:       cfg.Logger,
		now:       cfg.Now,
		forget:    cfg.Forget,
		tokenURLs: map[string]bool{},
		audiences: map[string]bool{},
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	if a.now == nil {
		a.now = time.Now
	}
	for i, u := range append([]string{cfg.PublicURL}, cfg.OtherURLs...) {
		base, err := baseURL(u)
		if err != nil {
			return nil, fmt.Errorf("auth: public URL %q: %w", u, err)
		}
		if i == 0 {
			a.publicURL = base
		}
		a.audiences[base] = true
		a.audiences[base+"/"] = true
		a.tokenURLs[base+TokenPath] = true
	}
	// The official clients address self-signed JWTs to the API they call.
	a.audiences[GoogleKMSAudience] = true
	a.audiences[strings.TrimSuffix(GoogleKMSAudience, "/")] = true

	size := cfg.CacheSize
	if size <= 0 {
		size = 10_000
	}
	ttl := cfg.CacheTTL
	if ttl <= 0 {
		ttl = 5 * time.Second
	}
	a.cache = newStateCache(size, ttl)
	a.tokens, _ = lru.New[[32]byte, verifiedToken](size)
	atKey := cfg.Keystore.Derive("custos app access token mac v1", 32)
	a.macPool.New = func() any { return hmac.New(sha256.New, atKey) }
	return a, nil
}

// baseURL checks and normalizes a base URL (no trailing slash).
func baseURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", errors.New("not a URL")
	}
	if u.Scheme != "https" && u.Scheme != "http" || u.Host == "" {
		return "", errors.New("must be an absolute http:// or https:// URL")
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", errors.New("must have no user, query or fragment")
	}
	return strings.TrimSuffix(s, "/"), nil
}

// TokenPath is the path of the OAuth2 token endpoint under the public URL.
const TokenPath = "/oauth2/token"

// GoogleKMSAudience is the audience the official clients put in a
// self-signed JWT for Cloud KMS (when they put one).
const GoogleKMSAudience = "https://cloudkms.googleapis.com/"

// TokenURL returns the token_uri of the service-account key files.
func (a *Apps) TokenURL() string { return a.publicURL + TokenPath }

// App is a service identity. Names are unique server-wide, so the principal
// "app:NAME" names one app everywhere.
type App struct {
	Name string `json:"name"`
	// Project is the home project ("" for none).
	Project string `json:"project,omitempty"`
	// GoogleServiceAccount is the Google service-account email that the
	// Cloud EKM endpoint maps to this app ("" for none).
	GoogleServiceAccount string    `json:"googleServiceAccount,omitempty"`
	Disabled             bool      `json:"disabled,omitempty"`
	CreateTime           time.Time `json:"createTime"`
	// UID is a random decimal id, fixed at creation and never reused: a
	// new app with the name of a deleted one has another UID. It is the
	// client_id of the app's service-account key files.
	UID string `json:"uid"`
}

// Principal returns "app:NAME".
func (app *App) Principal() string { return "app:" + app.Name }

// authzProject is the project the app's permissions are checked on.
func (app *App) authzProject() string {
	if app == nil || app.Project == "" {
		return NoProject
	}
	return app.Project
}

// ValidAppName reports whether s is a valid app name: 1 to 63 characters of
// [a-z0-9-], starting with a letter.
func ValidAppName(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func checkAppName(field, s string) error {
	if !ValidAppName(s) {
		return kmserr.InvalidArgument(field, "%q is not a valid app name: 1 to 63 characters of a-z, 0-9 and '-', starting with a letter", s)
	}
	return nil
}

// validEmail is a plain check of an email address: local@domain, printable
// ASCII, no spaces or quoting, at most 254 characters.
func validEmail(s string) bool {
	if len(s) < 3 || len(s) > 254 {
		return false
	}
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") || !strings.Contains(domain, ".") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),:;<>[\]`, c) >= 0 {
			return false
		}
	}
	return true
}

// CreateAppRequest is a CreateApp call.
type CreateAppRequest struct {
	Name                 string
	Project              string // "" for none
	GoogleServiceAccount string // "" for none
}

// CreateApp creates an enabled app. It needs custos.apps.create on the home
// project. A name in use is ALREADY_EXISTS, and so is a Google service
// account already bound to another app (compared case-insensitively).
func (a *Apps) CreateApp(ctx context.Context, req CreateAppRequest) (*App, error) {
	project := req.Project
	if project == "" {
		project = NoProject
	} else if _, err := resource.ParseKind("projects/"+project, resource.KindProject); err != nil {
		return nil, kmserr.InvalidArgument("project", "%q is not a valid project id", req.Project)
	}
	details := map[string]string{"app": req.Name, "project": req.Project}
	if req.GoogleServiceAccount != "" {
		details["googleServiceAccount"] = req.GoogleServiceAccount
	}
	var out *App
	err := a.call(ctx, "CreateApp", PermAppsCreate, project, appRecordName(req.Name), false, details, func() error {
		if err := checkAppName("name", req.Name); err != nil {
			return err
		}
		if req.GoogleServiceAccount != "" && !validEmail(req.GoogleServiceAccount) {
			return kmserr.InvalidArgument("googleServiceAccount", "%q is not an email address", req.GoogleServiceAccount)
		}
		uid, err := newUID()
		if err != nil {
			return err
		}
		app := &App{
			Name:                 req.Name,
			Project:              req.Project,
			GoogleServiceAccount: req.GoogleServiceAccount,
			CreateTime:           a.now().UTC(),
			UID:                  uid,
		}
		rec, err := a.encode(kindApp, appRecordName(app.Name), appsParent, app)
		if err != nil {
			return err
		}
		err = a.update(ctx, func(tx storage.Tx) ([]string, error) {
			if err := tx.Create(ctx, rec); err != nil {
				return nil, storeErr(err, "app", app.Name)
			}
			touched := []string{rec.Name}
			if app.GoogleServiceAccount != "" {
				idx, err := a.encode(kindAppIndex, googleIndexName(strings.ToLower(app.GoogleServiceAccount)), "", app.Name)
				if err != nil {
					return nil, err
				}
				if err := tx.Create(ctx, idx); err != nil {
					if errors.Is(err, storage.ErrExists) {
						return nil, kmserr.AlreadyExists("Google service account %s is already bound to another app", app.GoogleServiceAccount)
					}
					return nil, storeErr(err, "index", "")
				}
				touched = append(touched, idx.Name)
			}
			return touched, nil
		})
		if err != nil {
			return err
		}
		out = app
		return nil
	})
	return copyApp(out), err
}

// newUID returns 21 random decimal digits, the shape of a Google service
// account's unique id, with a leading 1 so that it keeps its length.
func newUID() (string, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Exp(big.NewInt(10), big.NewInt(20), nil))
	if err != nil {
		return "", kmserr.Internal(err, "cannot generate an id")
	}
	return fmt.Sprintf("1%020d", n), nil
}

func copyApp(app *App) *App {
	if app == nil {
		return nil
	}
	c := *app
	return &c
}

// lookupApp reads an app before authorization, only to learn which
// project its permissions are checked on. It returns (nil, nil) if the
// app does not exist, so that the caller is authorized on projects/_ and
// learns nothing more than a caller of CreateApp would.
func (a *Apps) lookupApp(ctx context.Context, name string) (*App, error) {
	app, _, err := a.readApp(ctx, a.store, name)
	if kmserr.Code(err) == codes.NotFound {
		return nil, nil
	}
	return app, err
}

// onApp runs the frame of a method on an existing app: check the name, read
// the app, authorize on its project (projects/_ if it cannot be read), run
// fn with it, record the outcome.
func (a *Apps) onApp(ctx context.Context, method, perm, name, res string, details map[string]string, fn func(app *App) error) error {
	if err := checkAppName("name", name); err != nil {
		return err
	}
	app, lookupErr := a.lookupApp(ctx, name)
	return a.call(ctx, method, perm, app.authzProject(), res, true, details, func() error {
		// A storage fault or a tampered record is told only to a caller
		// allowed on projects/_, like a missing app.
		if lookupErr != nil {
			return lookupErr
		}
		if app == nil {
			return kmserr.NotFound("app %s not found", name)
		}
		return fn(app)
	})
}

// GetApp returns an app. It needs custos.apps.get.
func (a *Apps) GetApp(ctx context.Context, name string) (*App, error) {
	var out *App
	err := a.onApp(ctx, "GetApp", PermAppsGet, name, appRecordName(name), nil, func(app *App) error {
		out = app
		return nil
	})
	return copyApp(out), err
}

// ListApps returns the apps whose home project is project, ordered by
// name, or every app if project is "" (which needs the permission on
// projects/_). It needs custos.apps.list.
func (a *Apps) ListApps(ctx context.Context, project string) ([]*App, error) {
	authzProject := project
	if project == "" {
		authzProject = NoProject
	} else if _, err := resource.ParseKind("projects/"+project, resource.KindProject); err != nil {
		return nil, kmserr.InvalidArgument("project", "%q is not a valid project id", project)
	}
	var out []*App
	err := a.call(ctx, "ListApps", PermAppsList, authzProject, "apps", false, map[string]string{"project": project}, func() error {
		recs, err := a.store.List(ctx, storage.ListOptions{Kind: kindApp, Parent: appsParent})
		if err != nil {
			return storeErr(err, "apps", "")
		}
		for _, rec := range recs {
			app := new(App)
			if err := a.decode(rec, kindApp, app); err != nil {
				return err
			}
			if rec.Name != appRecordName(app.Name) {
				return kmserr.DataLoss(nil, "stored record %s holds app %s", rec.Name, app.Name)
			}
			if project == "" || app.Project == project {
				out = append(out, app)
			}
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DisableApp disables an app: its credentials are refused at once, on this
// node (other nodes: within the cache TTL). It needs custos.apps.update.
// Disabling a disabled app is not an error.
func (a *Apps) DisableApp(ctx context.Context, name string) (*App, error) {
	return a.setDisabled(ctx, "DisableApp", name, true)
}

// EnableApp enables a disabled app. It needs custos.apps.update.
func (a *Apps) EnableApp(ctx context.Context, name string) (*App, error) {
	return a.setDisabled(ctx, "EnableApp", name, false)
}

func (a *Apps) setDisabled(ctx context.Context, method, name string, disabled bool) (*App, error) {
	var out *App
	err := a.onApp(ctx, method, PermAppsUpdate, name, appRecordName(name), map[string]string{"app": name}, func(*App) error {
		return a.update(ctx, func(tx storage.Tx) ([]string, error) {
			app, rec, err := a.readApp(ctx, tx, name)
			if err != nil {
				return nil, err
			}
			app.Disabled = disabled
			nrec, err := a.encode(kindApp, rec.Name, rec.Parent, app)
			if err != nil {
				return nil, err
			}
			nrec.Rev = rec.Rev
			if err := tx.Put(ctx, nrec); err != nil {
				return nil, storeErr(err, "app", name)
			}
			out = app
			return []string{rec.Name}, nil
		})
	})
	return copyApp(out), err
}

// DeleteApp deletes an app and every credential of it, effective at once,
// and, with AppsConfig.Forget, takes "app:NAME" out of every IAM policy and
// group in the same transaction: an app created later with the same name
// (it gets another UID) inherits nothing, as in Google Cloud, where the
// bindings of a deleted service account do not pass to a new one. Its
// quota stays. It needs custos.apps.delete.
func (a *Apps) DeleteApp(ctx context.Context, name string) error {
	details := map[string]string{"app": name}
	return a.onApp(ctx, "DeleteApp", PermAppsDelete, name, appRecordName(name), details, func(*App) error {
		// The counts go into the audit details only once the deletion is
		// committed: a failed one deleted nothing.
		keysDeleted, iamChanged, uid := "", "", ""
		err := a.update(ctx, func(tx storage.Tx) ([]string, error) {
			app, rec, err := a.readApp(ctx, tx, name)
			if err != nil {
				return nil, err
			}
			touched := []string{rec.Name}
			keys, err := tx.List(ctx, storage.ListOptions{Kind: kindAppKey, Parent: rec.Name})
			if err != nil {
				return nil, storeErr(err, "keys", "")
			}
			for _, krec := range keys {
				k := new(keyRecord)
				if err := a.decode(krec, kindAppKey, k); err != nil {
					return nil, err
				}
				if k.Fingerprint != "" {
					// The index may point to a later registration of the
					// same certificate (after a revocation): keep that.
					idx := mtlsIndexName(k.Fingerprint)
					target, _, err := a.readIndex(ctx, tx, idx)
					if err != nil && kmserr.Code(err) != codes.NotFound {
						return nil, err
					}
					if err == nil && target == k.ID {
						if err := tx.Delete(ctx, idx); err != nil {
							return nil, storeErr(err, "index", "")
						}
						touched = append(touched, idx)
					}
				}
				if err := tx.Delete(ctx, krec.Name); err != nil {
					return nil, storeErr(err, "key", k.ID)
				}
				touched = append(touched, krec.Name)
			}
			if app.GoogleServiceAccount != "" {
				idx := googleIndexName(strings.ToLower(app.GoogleServiceAccount))
				if err := tx.Delete(ctx, idx); err != nil {
					return nil, storeErr(err, "index", "")
				}
				touched = append(touched, idx)
			}
			if err := tx.Delete(ctx, rec.Name); err != nil {
				return nil, storeErr(err, "app", name)
			}
			keysDeleted, uid = strconv.Itoa(len(keys)), app.UID
			if a.forget != nil {
				changed, err := a.forget.ForgetApp(ctx, tx, name)
				if err != nil {
					return nil, err
				}
				iamChanged = strconv.Itoa(len(changed))
			}
			return touched, nil
		})
		if a.forget != nil {
			a.forget.Forgot()
		}
		if err == nil {
			// The UID tells the app deleted from one made later under
			// its name (the integrity scan compares them).
			details["uid"] = uid
			details["keysDeleted"] = keysDeleted
			if iamChanged != "" {
				details["iamRecordsChanged"] = iamChanged
			}
		}
		return err
	})
}

// AppByGoogleEmail returns the app bound to a Google service-account email
// (compared case-insensitively), or NOT_FOUND. It does not authorize: it is
// for the Cloud EKM endpoint, once that has verified Google's ID token for
// the email. It reads from the in-memory cache when it can.
func (a *Apps) AppByGoogleEmail(ctx context.Context, email string) (*App, error) {
	if !validEmail(email) {
		return nil, kmserr.NotFound("no app is bound to that Google service account")
	}
	name, err := a.cachedIndex(ctx, googleIndexName(strings.ToLower(email)))
	if err != nil {
		if kmserr.Code(err) == codes.NotFound {
			return nil, kmserr.NotFound("no app is bound to Google service account %s", email)
		}
		return nil, err
	}
	app, err := a.cachedApp(ctx, name)
	if err != nil {
		if kmserr.Code(err) == codes.NotFound {
			return nil, kmserr.NotFound("no app is bound to Google service account %s", email)
		}
		return nil, err
	}
	return copyApp(app), nil
}

// call runs the common frame of every management method: authorize on the
// project, run fn, record the outcome. details is read after fn, so fn may
// add to it; it must never hold a secret. With hideProject, a denial names
// res instead of the project: a method on an existing app must not tell a
// caller without the permission the app's project, nor whether it exists.
func (a *Apps) call(ctx context.Context, method, perm, project, res string, hideProject bool, details map[string]string, fn func() error) error {
	if err := a.authz.Authorize(ctx, perm, resource.Name{Kind: resource.KindProject, Project: project}); err != nil {
		if hideProject && kmserr.Code(err) == codes.PermissionDenied {
			err = kmserr.PermissionDenied("Permission '%s' denied on resource '%s' (or it may not exist).", perm, res)
		}
		a.record(ctx, method, res, details, err)
		return err
	}
	err := fn()
	if aerr := a.record(ctx, method, res, details, err); aerr != nil && err == nil {
		return aerr
	}
	return err
}

func (a *Apps) record(ctx context.Context, method, res string, details map[string]string, err error) error {
	if a.audit == nil {
		return nil
	}
	return a.audit.Record(ctx, kms.Event{Method: method, Resource: res, Err: err, Details: details})
}
