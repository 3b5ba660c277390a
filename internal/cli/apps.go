// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"

	"github.com/spf13/cobra"
)

// app is an app as the admin API shows it.
type app struct {
	Name                 string `json:"name"`
	Project              string `json:"project"`
	GoogleServiceAccount string `json:"googleServiceAccount"`
	Disabled             bool   `json:"disabled"`
	CreateTime           string `json:"createTime"`
}

// appKey is a credential of an app as the admin API lists it: never a
// secret.
type appKey struct {
	KeyID       string `json:"keyId"`
	Type        string `json:"type"`
	CreateTime  string `json:"createTime"`
	Revoked     bool   `json:"revoked"`
	RevokeTime  string `json:"revokeTime"`
	ClientEmail string `json:"clientEmail"`
	Fingerprint string `json:"fingerprint"`
	Subject     string `json:"subject"`
	NotAfter    string `json:"notAfter"`
}

// appPath returns the admin API path of app name followed by suffix.
func appPath(name, suffix string) string { return "/admin/v1/apps/" + name + suffix }

func newAppsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "apps",
		Aliases: []string{"app"},
		Short:   "Manage apps, the service identities that call Custos, and their credentials",
		Long: `Manage apps: the service identities of a project (Google calls them service
accounts), through the admin API (/admin/v1/apps).

An app is named once for the whole server, so "app:NAME" names it in every IAM
policy ("custos iam add-binding"), quota ("custos quotas") and audit entry.
--project records its home project. An app can hold several credentials at
once ("custos apps keys"): API keys, Google service-account key files and mTLS
client certificates. A new app holds no role: grant it one with
"custos iam add-binding RESOURCE --member app:NAME --role ROLE".

A disabled app keeps its credentials and policies but every call it makes is
refused (UNAUTHENTICATED) until it is enabled again. Deleting an app deletes
its credentials.`,
		Example: `  custos apps create billing --project payments
  custos apps keys create billing > billing.key
  custos iam add-binding projects/payments/locations/global/keyRings/app/cryptoKeys/db \
      --member app:billing --role roles/cloudkms.cryptoKeyEncrypterDecrypter
  custos apps list --project payments
  custos apps disable billing`,
		Args: groupArgs,
		RunE: groupRun,
	}
	cmd.AddCommand(
		newAppsCreateCmd(g),
		newAppsListCmd(g),
		newAppsGetCmd(g),
		newAppsStateCmd(g, "disable"),
		newAppsStateCmd(g, "enable"),
		newAppsDeleteCmd(g),
		newAppKeysCmd(g),
	)
	cmd.AddCommand(newJustificationCmds(g)...)
	return cmd
}

// emailRE is a plain check of an email address, to catch a misplaced
// argument; the server has the last word.
var emailRE = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)

func newAppsCreateCmd(g *globals) *cobra.Command {
	var project, gsa string
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create an app",
		Long: `Create the app NAME, enabled, with no credential and no role.

NAME is 1 to 63 characters of a-z, 0-9 and '-', starting with a letter, and is
unique on the server. --project records the app's home project (a project id,
such as "payments"). --google-service-account binds the email address of a
Google service account to the app, so that a caller presenting that identity
(for example Cloud EKM) is taken for this app.`,
		Example: `  custos apps create billing
  custos apps create billing --project payments -o json
  custos apps create ekm-caller --google-service-account ekm@my-project.iam.gserviceaccount.com`,
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkAppName(args[0]); err != nil {
				return err
			}
			if project != "" && !projectIDRE.MatchString(project) {
				return usageErrorf("--project: %q is not a project id", project)
			}
			if gsa != "" && !emailRE.MatchString(gsa) {
				return usageErrorf("--google-service-account: %q is not an email address", gsa)
			}
			body := map[string]string{"name": args[0]}
			if project != "" {
				body["project"] = project
			}
			if gsa != "" {
				body["googleServiceAccount"] = gsa
			}
			return g.do(cmd, func(ctx context.Context, c *client) error {
				raw, err := c.adminCall(ctx, http.MethodPost, "/admin/v1/apps", nil, body)
				if err != nil {
					return err
				}
				return g.printApp(raw)
			})
		},
	}
	cmd.Flags().StringVar(&project, "project", "", "home `PROJECT` id of the app")
	cmd.Flags().StringVar(&gsa, "google-service-account", "", "bind the Google service account `EMAIL` to the app")
	return cmd
}

func newAppsListCmd(g *globals) *cobra.Command {
	var project string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List apps",
		Long: `List the apps the caller may see, or with --project those whose home project
is PROJECT. --output json prints one array of app objects.`,
		Example: `  custos apps list
  custos apps list --project payments -o json`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			if project != "" && !projectIDRE.MatchString(project) {
				return usageErrorf("--project: %q is not a project id", project)
			}
			var q url.Values
			if project != "" {
				q = url.Values{"project": {project}}
			}
			return g.do(cmd, func(ctx context.Context, c *client) error {
				items, err := c.adminList(ctx, "/admin/v1/apps", "apps", q)
				if err != nil {
					return err
				}
				if g.json() {
					return printJSONArray(g.stdout, items)
				}
				if len(items) == 0 {
					notef(g.stderr, "no apps")
					return nil
				}
				var rows [][]string
				for _, raw := range items {
					var a app
					if err := decodeJSON(raw, &a); err != nil {
						return err
					}
					rows = append(rows, []string{a.Name, a.Project, appState(a.Disabled), a.GoogleServiceAccount, formatTimeString(a.CreateTime)})
				}
				return printTable(g.stdout, []string{"NAME", "PROJECT", "STATE", "GOOGLE SERVICE ACCOUNT", "CREATED"}, rows)
			})
		},
	}
	cmd.Flags().StringVar(&project, "project", "", "list only the apps whose home project is `PROJECT`")
	return cmd
}

func newAppsGetCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "get NAME",
		Short:   "Show an app",
		Long:    `Show the app NAME: its home project, state, bound Google service account and creation time.`,
		Example: `  custos apps get billing -o json`,
		Args:    exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkAppName(args[0]); err != nil {
				return err
			}
			return g.do(cmd, func(ctx context.Context, c *client) error {
				raw, err := c.adminCall(ctx, http.MethodGet, appPath(args[0], ""), nil, nil)
				if err != nil {
					return err
				}
				return g.printApp(raw)
			})
		},
	}
}

// newAppsStateCmd builds apps disable and apps enable.
func newAppsStateCmd(g *globals, verb string) *cobra.Command {
	short, long := "Disable an app", `Disable the app NAME: every call it makes is refused (UNAUTHENTICATED), with
any of its credentials, until "custos apps enable NAME". Its credentials and
IAM bindings are kept. Prints the app.`
	if verb == "enable" {
		short, long = "Enable a disabled app", `Enable the app NAME again: its credentials that are not revoked work again.
Prints the app.`
	}
	return &cobra.Command{
		Use:     verb + " NAME",
		Short:   short,
		Long:    long,
		Example: "  custos apps " + verb + " billing",
		Args:    exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkAppName(args[0]); err != nil {
				return err
			}
			return g.do(cmd, func(ctx context.Context, c *client) error {
				raw, err := c.adminCall(ctx, http.MethodPost, appPath(args[0], "/"+verb), nil, nil)
				if err != nil {
					return err
				}
				return g.printApp(raw)
			})
		},
	}
}

func newAppsDeleteCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete an app and its credentials",
		Long: `Delete the app NAME and every credential it holds. Calls with its credentials
fail (UNAUTHENTICATED) from then on. IAM bindings that name "app:NAME" stay
in their policies and grant nothing until an app of that name is created
again: remove them with "custos iam remove-binding".

Text output is a note on stderr; --output json prints the server's answer, {}.`,
		Example: `  custos apps delete billing`,
		Args:    exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkAppName(args[0]); err != nil {
				return err
			}
			return g.do(cmd, func(ctx context.Context, c *client) error {
				raw, err := c.adminCall(ctx, http.MethodDelete, appPath(args[0], ""), nil, nil)
				if err != nil {
					return err
				}
				if g.json() {
					return printJSON(g.stdout, raw)
				}
				notef(g.stderr, "deleted app %s", args[0])
				return nil
			})
		},
	}
}

func appState(disabled bool) string {
	if disabled {
		return "DISABLED"
	}
	return "ENABLED"
}

// printApp prints an app answer.
func (g *globals) printApp(raw []byte) error {
	if g.json() {
		return printJSON(g.stdout, raw)
	}
	var a app
	if err := decodeJSON(raw, &a); err != nil {
		return err
	}
	return printFields(g.stdout, []field{
		{"Name", a.Name},
		{"Principal", "app:" + a.Name},
		{"Project", a.Project},
		{"State", appState(a.Disabled)},
		{"Google service account", a.GoogleServiceAccount},
		{"Created", formatTimeString(a.CreateTime)},
	})
}

func newAppKeysCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "keys",
		Aliases: []string{"key"},
		Short:   "Create, list and revoke the credentials of an app",
		Long: `Create, list and revoke the credentials of an app. An app may hold any number
of them, of three formats, all usable at once:

  api-key       a bearer token (custos_ak_...), shown once at creation and
                stored only as a hash. Use it as the token of this CLI
                (CUSTOS_TOKEN) or as "Authorization: Bearer KEY" in any client.
  google-json   a Google service-account key file. The file alone is enough
                for a Google Cloud client library pointed at this server.
  mtls          a TLS client certificate (PEM) bound to the app, for servers
                that run with --tls-client-ca.

Secrets are shown once, by create, and never again. A credential's KEY_ID is
the "private_key_id" of a key file, or the id shown by create and list.`,
		Example: `  custos apps keys create billing > billing.key
  custos apps keys create billing --format google-json > sa.json
  custos apps keys create billing --format mtls --cert client.pem
  custos apps keys list billing
  custos apps keys revoke billing 3f1c...`,
		Args: groupArgs,
		RunE: groupRun,
	}
	cmd.AddCommand(newAppKeysCreateCmd(g), newAppKeysListCmd(g), newAppKeysRevokeCmd(g))
	return cmd
}

// Credential formats of apps keys create.
const (
	formatAPIKey     = "api-key"
	formatGoogleJSON = "google-json"
	formatMTLS       = "mtls"
)

// apiKeyAnswer is the answer to creating an API key, and exactly what
// --output json prints: {"app","keyId","apiKey"}.
type apiKeyAnswer struct {
	App    string `json:"app"`
	KeyID  string `json:"keyId"`
	APIKey string `json:"apiKey"`
}

// buildKeyCreateBody checks the flags of apps keys create and returns the
// request body.
func buildKeyCreateBody(g *globals, format, certFile string, certSet bool) (map[string]string, error) {
	switch format {
	case formatAPIKey, formatGoogleJSON, formatMTLS:
	default:
		return nil, usageErrorf("--format: unknown value %q; want one of api-key, google-json, mtls", format)
	}
	body := map[string]string{"format": format}
	switch {
	case format == formatMTLS && !certSet:
		return nil, usageErrorf("--format mtls needs --cert FILE, the PEM client certificate")
	case format != formatMTLS && certSet:
		return nil, usageErrorf("--cert is only for --format mtls")
	case format == formatMTLS:
		pem, err := g.readInput("cert", certFile)
		if err != nil {
			return nil, err
		}
		body["certificate"] = string(pem)
	}
	return body, nil
}

func newAppKeysCreateCmd(g *globals) *cobra.Command {
	var format, certFile string
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a credential for an app",
		Long: `Create a credential for the app NAME and print it. Secrets are shown this once.

--format api-key (the default) prints the API key alone on one line, ready
for a file or CUSTOS_TOKEN; with --output json it prints
{"app","keyId","apiKey"}. The key id, needed to revoke the key, is noted on
stderr.

--format google-json prints the service-account key file, with or without
--output json: save it as is ("> sa.json"). It holds an RSA private key, the
app's client_email, and a token_uri on this server; a Google Cloud client
library given this file authenticates to Custos unmodified.

--format mtls --cert FILE registers the PEM client certificate in FILE ("-"
for stdin) and prints its key id and SHA-256 fingerprint; the private key
never leaves the client.`,
		Example: `  custos apps keys create billing > billing.key
  CUSTOS_TOKEN_FILE=billing.key custos encrypt projects/p/locations/global/keyRings/app/cryptoKeys/db --in secret.txt
  custos apps keys create billing -o json
  custos apps keys create billing --format google-json > sa.json
  custos apps keys create billing --format mtls --cert client.pem`,
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkAppName(args[0]); err != nil {
				return err
			}
			body, err := buildKeyCreateBody(g, format, certFile, cmd.Flags().Changed("cert"))
			if err != nil {
				return err
			}
			return g.do(cmd, func(ctx context.Context, c *client) error {
				raw, err := c.adminCall(ctx, http.MethodPost, appPath(args[0], "/keys"), nil, body)
				if err != nil {
					return err
				}
				return g.printNewKey(format, raw)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&format, "format", formatAPIKey, "credential `FORMAT`: api-key, google-json or mtls")
	f.StringVar(&certFile, "cert", "", "PEM client certificate `FILE` of an mtls credential (\"-\" for stdin)")
	return cmd
}

// printNewKey prints the answer to creating a credential of format.
func (g *globals) printNewKey(format string, raw []byte) error {
	switch format {
	case formatAPIKey:
		var k apiKeyAnswer
		if err := decodeJSON(raw, &k); err != nil {
			return err
		}
		if k.APIKey == "" {
			return fmt.Errorf("the server's answer holds no API key")
		}
		if g.json() {
			return printValue(g.stdout, k)
		}
		if _, err := g.stdout.Write([]byte(k.APIKey + "\n")); err != nil {
			return err
		}
		notef(g.stderr, "created API key %s of app %s; it is not shown again", k.KeyID, k.App)
		return nil
	case formatGoogleJSON:
		var file struct {
			Type         string `json:"type"`
			PrivateKeyID string `json:"private_key_id"`
			ClientEmail  string `json:"client_email"`
		}
		if err := decodeJSON(raw, &file); err != nil {
			return err
		}
		if file.Type != "service_account" || file.PrivateKeyID == "" {
			return fmt.Errorf("the server's answer is not a service-account key file")
		}
		if err := printJSON(g.stdout, raw); err != nil {
			return err
		}
		notef(g.stderr, "created service-account key %s for %s; the key file is not shown again", file.PrivateKeyID, file.ClientEmail)
		return nil
	}
	if g.json() {
		return printJSON(g.stdout, raw)
	}
	var k struct {
		App         string `json:"app"`
		KeyID       string `json:"keyId"`
		Fingerprint string `json:"fingerprint"`
	}
	if err := decodeJSON(raw, &k); err != nil {
		return err
	}
	return printFields(g.stdout, []field{
		{"App", k.App},
		{"Key id", k.KeyID},
		{"Fingerprint (SHA-256)", k.Fingerprint},
	})
}

func newAppKeysListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list NAME",
		Short: "List the credentials of an app",
		Long: `List the credentials of the app NAME, revoked ones included: id, format,
state and what identifies them (the client_email of a key file, the subject
and fingerprint of a certificate). Never a secret. --output json prints one
array of key objects.`,
		Example: `  custos apps keys list billing
  custos apps keys list billing -o json`,
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkAppName(args[0]); err != nil {
				return err
			}
			return g.do(cmd, func(ctx context.Context, c *client) error {
				items, err := c.adminList(ctx, appPath(args[0], "/keys"), "keys", nil)
				if err != nil {
					return err
				}
				if g.json() {
					return printJSONArray(g.stdout, items)
				}
				if len(items) == 0 {
					notef(g.stderr, "app %s has no credential", args[0])
					return nil
				}
				var rows [][]string
				for _, raw := range items {
					var k appKey
					if err := decodeJSON(raw, &k); err != nil {
						return err
					}
					rows = append(rows, []string{k.KeyID, k.Type, keyState(k.Revoked), formatTimeString(k.CreateTime), keyIdentity(k)})
				}
				return printTable(g.stdout, []string{"KEY ID", "FORMAT", "STATE", "CREATED", "IDENTITY"}, rows)
			})
		},
	}
}

func keyState(revoked bool) string {
	if revoked {
		return "REVOKED"
	}
	return "ACTIVE"
}

// keyIdentity is what identifies a credential besides its id.
func keyIdentity(k appKey) string {
	switch {
	case k.ClientEmail != "":
		return k.ClientEmail
	case k.Fingerprint != "" && k.Subject != "":
		return k.Subject + " sha256:" + k.Fingerprint
	case k.Fingerprint != "":
		return "sha256:" + k.Fingerprint
	}
	return ""
}

// keyIDRE is the syntax of key ids, loosely: the server checks them.
// Checking it here keeps an id from changing the path of a request.
var keyIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

func newAppKeysRevokeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke NAME KEY_ID",
		Short: "Revoke a credential of an app",
		Long: `Revoke the credential KEY_ID of the app NAME: from now on it authenticates
nothing (UNAUTHENTICATED), and access tokens obtained with it stop working.
KEY_ID is the "private_key_id" of a service-account key file, or the id that
"custos apps keys create" noted and "custos apps keys list" shows. Revoking
cannot be undone. Prints the revoked key.`,
		Example: `  custos apps keys revoke billing 3f1c0d9e5a7b2c4d6e8f0a1b3c5d7e9f1a2b3c4d
  custos apps keys revoke billing "$(jq -r .private_key_id sa.json)"`,
		Args: exactArgs("NAME", "KEY_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkAppName(args[0]); err != nil {
				return err
			}
			if !keyIDRE.MatchString(args[1]) {
				return usageErrorf("%q is not a key id", args[1])
			}
			return g.do(cmd, func(ctx context.Context, c *client) error {
				raw, err := c.adminCall(ctx, http.MethodPost, appPath(args[0], "/keys/"+args[1]+"/revoke"), nil, nil)
				if err != nil {
					return err
				}
				if g.json() {
					return printJSON(g.stdout, raw)
				}
				var k appKey
				if err := decodeJSON(raw, &k); err != nil {
					return err
				}
				return printFields(g.stdout, []field{
					{"Key id", k.KeyID},
					{"Format", k.Type},
					{"State", keyState(k.Revoked)},
					{"Identity", keyIdentity(k)},
					{"Created", formatTimeString(k.CreateTime)},
					{"Revoked", formatTimeString(k.RevokeTime)},
				})
			})
		},
	}
}
