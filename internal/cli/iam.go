// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/iam/apiv1/iampb"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
)

// policyResourceHelp describes the resources that carry IAM policies.
const policyResourceHelp = `RESOURCE is the full name of a project, key ring, crypto key or import job:

  projects/P
  projects/P/locations/L/keyRings/R
  projects/P/locations/L/keyRings/R/cryptoKeys/K
  projects/P/locations/L/keyRings/R/importJobs/J

A role granted on a resource holds on everything below it: a role on a
project covers its key rings and their keys.`

// parsePolicyResource checks the name of a resource that has a policy.
func parsePolicyResource(s string) (string, error) {
	if importJobRE.MatchString(s) {
		return s, nil
	}
	return parseResource(s, "the name of a project (projects/P), key ring, crypto key or import job", kindKeyRing, kindCryptoKey)
}

// iamPolicyPath is the admin API path of the policy of resource.
func iamPolicyPath(resource string) string { return "/admin/v1/iam/" + resource }

func newIAMCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "iam",
		Short: "Show and change who may do what: IAM policies, roles and groups",
		Long: `Show and change the IAM policies that grant roles to apps and groups of apps
on projects, key rings, crypto keys and import jobs, through the admin API
(/admin/v1/iam/RESOURCE). Policies are the google.iam.v1.Policy of Cloud KMS:
bindings of a role ("roles/cloudkms.cryptoKeyEncrypterDecrypter") to members
("app:NAME", "group:NAME"), and an etag that guards against lost updates.

` + policyResourceHelp + `

"custos iam roles" lists the roles and their permissions; "custos iam groups"
manages groups of apps.`,
		Example: `  custos iam add-binding projects/p/locations/global/keyRings/app/cryptoKeys/db \
      --member app:billing --role roles/cloudkms.cryptoKeyEncrypterDecrypter
  custos iam get projects/p/locations/global/keyRings/app
  custos iam get projects/p -o json > policy.json
  custos iam set projects/p --policy-file policy.json
  custos iam roles roles/cloudkms.signerVerifier`,
		Args: groupArgs,
		RunE: groupRun,
	}
	cmd.AddCommand(
		newIAMGetCmd(g),
		newIAMSetCmd(g),
		newIAMBindingCmd(g, true),
		newIAMBindingCmd(g, false),
		newIAMRolesCmd(g),
		newGroupsCmd(g),
	)
	return cmd
}

func newIAMGetCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "get RESOURCE",
		Short: "Show the IAM policy of a resource",
		Long: `Show the IAM policy set on RESOURCE itself (not the roles it inherits): one
line per role and member, and the etag. --output json prints the policy
object, which "custos iam set" accepts back.

` + policyResourceHelp,
		Example: `  custos iam get projects/p/locations/global/keyRings/app/cryptoKeys/db
  custos iam get projects/p -o json > policy.json`,
		Args: exactArgs("RESOURCE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := parsePolicyResource(args[0])
			if err != nil {
				return err
			}
			return g.do(cmd, func(ctx context.Context, c *client) error {
				raw, err := c.adminCall(ctx, http.MethodGet, iamPolicyPath(res), nil, nil)
				if err != nil {
					return err
				}
				return g.printIAMPolicy(res, raw)
			})
		},
	}
}

// readPolicyFile reads a google.iam.v1.Policy in JSON, or a
// SetIamPolicyRequest-shaped {"policy": {...}}, and returns the policy's
// JSON.
func readPolicyFile(data []byte) ([]byte, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		return nil, fmt.Errorf("--policy-file: not a JSON object: %w", err)
	}
	if inner, ok := obj["policy"]; ok && len(obj) == 1 {
		data = inner
	}
	p := &iampb.Policy{}
	if err := protojson.Unmarshal(data, p); err != nil {
		return nil, fmt.Errorf("--policy-file: not a google.iam.v1.Policy in JSON: %w", err)
	}
	return data, nil
}

func newIAMSetCmd(g *globals) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "set RESOURCE --policy-file FILE",
		Short: "Replace the IAM policy of a resource",
		Long: `Replace the IAM policy of RESOURCE with the policy in FILE ("-" for stdin): a
google.iam.v1.Policy in JSON, as "custos iam get -o json" prints it,
{"version":1,"etag":"...","bindings":[{"role":"roles/...","members":["app:NAME"]}]}.

The policy's etag is honoured: if the policy changed since the etag was read,
the server refuses the change with ABORTED and nothing is written; read it
again and retry. A policy without etag overwrites whatever is there. Prints
the new policy.

` + policyResourceHelp,
		Example: `  custos iam get projects/p -o json > policy.json
  $EDITOR policy.json
  custos iam set projects/p --policy-file policy.json`,
		Args: exactArgs("RESOURCE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := parsePolicyResource(args[0])
			if err != nil {
				return err
			}
			if !cmd.Flags().Changed("policy-file") {
				return usageErrorf("missing --policy-file FILE")
			}
			data, err := g.readInput("policy-file", file)
			if err != nil {
				return err
			}
			body, err := readPolicyFile(data)
			if err != nil {
				return err
			}
			return g.do(cmd, func(ctx context.Context, c *client) error {
				raw, err := c.exchange(ctx, http.MethodPut, iamPolicyPath(res), nil, body)
				var ae *APIError
				if errors.As(err, &ae) && ae.Status == "ABORTED" {
					return withHint(err, "the policy changed since its etag was read; read it again with 'custos iam get "+res+" -o json' and reapply your change")
				}
				if err != nil {
					return err
				}
				return g.printIAMPolicy(res, raw)
			})
		},
	}
	cmd.Flags().StringVar(&file, "policy-file", "", "JSON policy `FILE` (\"-\" for stdin)")
	return cmd
}

// maxPolicyAttempts bounds the read-modify-write rounds of add-binding and
// remove-binding when the policy keeps changing under them.
const maxPolicyAttempts = 5

// errNoBinding is remove-binding's error when the member does not hold
// the role.
var errNoBinding = errors.New("no such binding")

// editBinding adds member to role's binding in p (add), or removes it
// (!add), and reports whether p changed. A binding left without members
// is dropped. Conditional bindings are left alone.
func editBinding(p *iampb.Policy, role, member string, add bool) bool {
	for i, b := range p.GetBindings() {
		if b.GetRole() != role || b.GetCondition() != nil {
			continue
		}
		has := slices.Contains(b.Members, member)
		switch {
		case add && has:
			return false
		case add:
			b.Members = append(b.Members, member)
			return true
		case has:
			b.Members = slices.DeleteFunc(b.Members, func(m string) bool { return m == member })
			if len(b.Members) == 0 {
				p.Bindings = slices.Delete(p.Bindings, i, i+1)
			}
			return true
		}
	}
	if !add {
		return false
	}
	p.Bindings = append(p.Bindings, &iampb.Binding{Role: role, Members: []string{member}})
	return true
}

// bindingBackoff is the pause before read-modify-write attempt n (n >= 1).
var bindingBackoff = func(n int) time.Duration { return time.Duration(n) * 100 * time.Millisecond }

// memberSyntax checks the shape of a member: KIND:NAME.
func memberSyntax(m string) error {
	kind, name, ok := strings.Cut(m, ":")
	if !ok || kind == "" || name == "" || strings.ContainsAny(m, " \t\n") {
		return usageErrorf("--member: %q is not a member like app:NAME or group:NAME", m)
	}
	return nil
}

func newIAMBindingCmd(g *globals, add bool) *cobra.Command {
	var member, role string
	use, short, long := "add-binding", "Grant a role to a member on a resource", `Grant ROLE to MEMBER on RESOURCE: read the policy, add the member to the
role's binding, and write it back with the etag read. If someone else changed
the policy meanwhile (ABORTED), start again, up to %d times. Granting a role
the member already holds changes nothing. Prints the new policy.`
	if !add {
		use, short, long = "remove-binding", "Revoke a role from a member on a resource", `Revoke ROLE from MEMBER on RESOURCE: read the policy, remove the member from
the role's binding, and write it back with the etag read. If someone else
changed the policy meanwhile (ABORTED), start again, up to %d times. It is an
error (exit status 1) if the member does not hold the role on RESOURCE itself;
a role inherited from a parent is removed on the parent. Prints the new
policy.`
	}
	cmd := &cobra.Command{
		Use:   use + " RESOURCE --member MEMBER --role ROLE",
		Short: short,
		Long: fmt.Sprintf(long, maxPolicyAttempts) + `

MEMBER is app:NAME (an app) or group:NAME (a group of apps, see
"custos iam groups"). ROLE is a Cloud KMS role name such as
roles/cloudkms.cryptoKeyEncrypterDecrypter; "custos iam roles" lists them.

` + policyResourceHelp,
		Example: "  custos iam " + use + ` projects/p/locations/global/keyRings/app/cryptoKeys/db \
      --member app:billing --role roles/cloudkms.cryptoKeyEncrypterDecrypter
  custos iam ` + use + ` projects/p --member group:readers --role roles/cloudkms.viewer`,
		Args: exactArgs("RESOURCE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := parsePolicyResource(args[0])
			if err != nil {
				return err
			}
			fs := cmd.Flags()
			if !fs.Changed("member") || !fs.Changed("role") {
				return usageErrorf("--member and --role are required")
			}
			if err := memberSyntax(member); err != nil {
				return err
			}
			if role == "" || strings.ContainsAny(role, " \t\n") {
				return usageErrorf("--role: %q is not a role name like roles/cloudkms.viewer", role)
			}
			return g.do(cmd, func(ctx context.Context, c *client) error {
				raw, err := g.editPolicy(ctx, c, res, role, member, add)
				if errors.Is(err, errNoBinding) {
					return withHint(fmt.Errorf("%s does not hold %s on %s", member, role, res),
						"see the policy with 'custos iam get "+res+"'; a role granted on a parent is removed there")
				}
				var ae *APIError
				if errors.As(err, &ae) && ae.Status == "INVALID_ARGUMENT" {
					return withHint(err, "members are app:NAME or group:NAME; list the roles with 'custos iam roles'")
				}
				if err != nil {
					return err
				}
				return g.printIAMPolicy(res, raw)
			})
		},
	}
	cmd.Flags().StringVar(&member, "member", "", "`MEMBER` to grant or revoke the role: app:NAME or group:NAME")
	cmd.Flags().StringVar(&role, "role", "", "`ROLE` name, e.g. roles/cloudkms.cryptoKeyEncrypterDecrypter")
	return cmd
}

// editPolicy runs the read-modify-write of add-binding or remove-binding
// and returns the policy as it is afterwards.
func (g *globals) editPolicy(ctx context.Context, c *client, res, role, member string, add bool) ([]byte, error) {
	for attempt := 1; ; attempt++ {
		raw, err := c.adminCall(ctx, http.MethodGet, iamPolicyPath(res), nil, nil)
		if err != nil {
			return nil, err
		}
		p := &iampb.Policy{}
		if err := unmarshal(raw, p); err != nil {
			return nil, err
		}
		if !editBinding(p, role, member, add) {
			if !add {
				return nil, errNoBinding
			}
			notef(g.stderr, "%s already holds %s on %s", member, role, res)
			return raw, nil
		}
		body, err := protojson.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("encoding the policy: %w", err)
		}
		raw, err = c.exchange(ctx, http.MethodPut, iamPolicyPath(res), nil, body)
		var ae *APIError
		if errors.As(err, &ae) && ae.Status == "ABORTED" && attempt < maxPolicyAttempts {
			select {
			case <-time.After(bindingBackoff(attempt)):
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if err != nil {
			if errors.As(err, &ae) && ae.Status == "ABORTED" {
				return nil, fmt.Errorf("the policy of %s kept changing; gave up after %d attempts: %w", res, attempt, err)
			}
			return nil, err
		}
		return raw, nil
	}
}

// printIAMPolicy prints a policy answer.
func (g *globals) printIAMPolicy(res string, raw []byte) error {
	if g.json() {
		return printJSON(g.stdout, raw)
	}
	p := &iampb.Policy{}
	if err := unmarshal(raw, p); err != nil {
		return err
	}
	etag := ""
	if len(p.GetEtag()) > 0 {
		// As the JSON form shows it, so that it can be compared.
		var obj struct {
			Etag string `json:"etag"`
		}
		if json.Unmarshal(raw, &obj) == nil {
			etag = obj.Etag
		}
	}
	if err := printFields(g.stdout, []field{{"Resource", res}, {"Etag", etag}}); err != nil {
		return err
	}
	var rows [][]string
	for _, b := range p.GetBindings() {
		for _, m := range b.GetMembers() {
			rows = append(rows, []string{b.GetRole(), m})
		}
	}
	if len(rows) == 0 {
		notef(g.stderr, "no bindings on %s", res)
		return nil
	}
	fmt.Fprintln(g.stdout)
	return printTable(g.stdout, []string{"ROLE", "MEMBER"}, rows)
}

func newIAMRolesCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "roles [ROLE]",
		Short: "List the roles and their permissions",
		Long: `List the roles that policies can grant, each with its permissions, as Cloud
KMS defines them (plus Custos's own, such as roles/custos.exporter). With
ROLE, show that role only. --output json prints one array of
{"name","includedPermissions"} objects.`,
		Example: `  custos iam roles
  custos iam roles roles/cloudkms.cryptoKeyEncrypterDecrypter
  custos iam roles -o json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageErrorf("unexpected argument %q", args[1])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.do(cmd, func(ctx context.Context, c *client) error {
				items, err := c.adminList(ctx, "/admin/v1/roles", "roles", nil)
				if err != nil {
					return err
				}
				type role struct {
					Name                string   `json:"name"`
					IncludedPermissions []string `json:"includedPermissions"`
				}
				var roles []role
				var kept []json.RawMessage
				for _, raw := range items {
					var r role
					if err := decodeJSON(raw, &r); err != nil {
						return err
					}
					if len(args) == 1 && r.Name != args[0] {
						continue
					}
					roles = append(roles, r)
					kept = append(kept, raw)
				}
				if len(args) == 1 && len(roles) == 0 {
					return withHint(fmt.Errorf("no role %s on this server", args[0]), "list the roles with 'custos iam roles'")
				}
				if g.json() {
					return printJSONArray(g.stdout, kept)
				}
				for i, r := range roles {
					if i > 0 {
						fmt.Fprintln(g.stdout)
					}
					fmt.Fprintln(g.stdout, r.Name)
					for _, p := range r.IncludedPermissions {
						fmt.Fprintln(g.stdout, "  "+p)
					}
				}
				return nil
			})
		},
	}
}
