// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/structpb"
)

// Cloud EKM: the Key Access Justifications policy of an app, through the
// admin API (/admin/v1/apps/{name}/justificationPolicy).

// newJustificationCmds returns the apps subcommands of justification
// policies.
func newJustificationCmds(g *globals) []*cobra.Command {
	return []*cobra.Command{
		newSetPolicyCmd(g, "set-justification-policy", "custos apps set-justification-policy"),
		newGetPolicyCmd(g, "get-justification-policy", "custos apps get-justification-policy"),
	}
}

const justificationPolicyLong = `Set the Key Access Justifications policy of the app NAME: which access reasons
(google.cloud.kms.v1.AccessReason names) its Cloud EKM wrap and unwrap calls may
carry. A call with another reason is refused (403), and Cloud KMS then disables
the key version on its side. Every decision is in the audit log.

Give the allowed reasons with --allow (repeatable, or comma-separated), or
--allow-all for every reason Custos knows. --allow-missing also allows calls
without a justification; --allow-unknown allows reasons newer than this
release. The policy is replaced as a whole: flags not given are off.

An app without a policy allows every known reason and refuses missing and
unknown ones. Known reasons:

  CUSTOMER_INITIATED_SUPPORT, GOOGLE_INITIATED_SERVICE, THIRD_PARTY_DATA_REQUEST,
  GOOGLE_INITIATED_REVIEW, CUSTOMER_INITIATED_ACCESS,
  GOOGLE_INITIATED_SYSTEM_OPERATION, REASON_NOT_EXPECTED,
  MODIFIED_CUSTOMER_INITIATED_ACCESS, MODIFIED_GOOGLE_INITIATED_SYSTEM_OPERATION,
  GOOGLE_RESPONSE_TO_PRODUCTION_ALERT, CUSTOMER_AUTHORIZED_WORKFLOW_SERVICING

Google warns that refusing CUSTOMER_INITIATED_ACCESS or
GOOGLE_INITIATED_SYSTEM_OPERATION makes the services that use the key
unavailable.`

// justificationPolicyJSON is a justification policy as the admin API shows it.
type justificationPolicyJSON struct {
	App            string   `json:"app"`
	AllowAll       bool     `json:"allowAll"`
	AllowedReasons []string `json:"allowedReasons"`
	AllowMissing   bool     `json:"allowMissing"`
	AllowUnknown   bool     `json:"allowUnknown"`
	Default        bool     `json:"default"`
	UpdateTime     string   `json:"updateTime"`
}

func justificationPolicyPath(app string) string {
	return "/admin/v1/apps/" + app + "/justificationPolicy"
}

func newSetPolicyCmd(g *globals, use, path string) *cobra.Command {
	var (
		allow                                []string
		allowAll, allowMissing, allowUnknown bool
	)
	cmd := &cobra.Command{
		Use:   use + " NAME (--allow REASON[,REASON...] | --allow-all) [--allow-missing] [--allow-unknown]",
		Short: "Set the justification policy of an app",
		Long:  justificationPolicyLong,
		Example: "  " + path + " gcp-ekm --allow CUSTOMER_INITIATED_ACCESS,GOOGLE_INITIATED_SYSTEM_OPERATION\n" +
			"  " + path + " gcp-ekm --allow-all --allow-missing\n" +
			"  " + path + " gcp-ekm --allow-all --allow-unknown -o json",
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkEKMAppName(args[0]); err != nil {
				return err
			}
			var reasons []any
			for _, r := range allow {
				if r = strings.TrimSpace(r); r != "" {
					reasons = append(reasons, strings.ToUpper(r))
				}
			}
			switch {
			case allowAll && len(reasons) > 0:
				return usageErrorf("--allow and --allow-all are mutually exclusive")
			case !allowAll && len(reasons) == 0:
				return usageErrorf("give the allowed reasons with --allow REASON[,REASON...], or --allow-all")
			}
			if reasons == nil {
				reasons = []any{}
			}
			body, err := structpb.NewStruct(map[string]any{
				"allowAll":       allowAll,
				"allowedReasons": reasons,
				"allowMissing":   allowMissing,
				"allowUnknown":   allowUnknown,
			})
			if err != nil {
				return fmt.Errorf("encoding the request: %w", err)
			}
			return g.do(cmd, func(ctx context.Context, c *client) error {
				raw, err := c.do(ctx, http.MethodPut, justificationPolicyPath(args[0]), nil, body)
				if err != nil {
					return err
				}
				return g.printJustificationPolicy(raw)
			})
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&allow, "allow", nil, "allow these access `REASON`s (repeatable, or comma-separated)")
	f.BoolVar(&allowAll, "allow-all", false, "allow every access reason Custos knows")
	f.BoolVar(&allowMissing, "allow-missing", false, "also allow calls without a justification")
	f.BoolVar(&allowUnknown, "allow-unknown", false, "also allow reasons Custos does not know (newer than this release)")
	return cmd
}

func newGetPolicyCmd(g *globals, use, path string) *cobra.Command {
	return &cobra.Command{
		Use:   use + " NAME",
		Short: "Show the justification policy of an app",
		Long: `Show the Key Access Justifications policy of the app NAME: the access reasons
its Cloud EKM calls may carry. An app without a policy of its own shows the
default: every known reason, no missing or unknown one.`,
		Example: "  " + path + " gcp-ekm\n  " + path + " gcp-ekm -o json",
		Args:    exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkEKMAppName(args[0]); err != nil {
				return err
			}
			return g.do(cmd, func(ctx context.Context, c *client) error {
				raw, err := c.get(ctx, justificationPolicyPath(args[0]), nil)
				if err != nil {
					return err
				}
				return g.printJustificationPolicy(raw)
			})
		},
	}
}

// printJustificationPolicy prints a justification policy answer.
func (g *globals) printJustificationPolicy(raw []byte) error {
	if g.json() {
		return printJSON(g.stdout, raw)
	}
	var p justificationPolicyJSON
	if err := json.Unmarshal(raw, &p); err != nil {
		return fmt.Errorf("decoding the server's answer: %w", err)
	}
	reasons := strings.Join(p.AllowedReasons, ", ")
	switch {
	case p.AllowAll:
		reasons = "every known reason"
	case reasons == "":
		reasons = "none"
	}
	allowed := map[bool]string{true: "allowed", false: "refused"}
	fields := []field{
		{"App", p.App},
		{"Allowed reasons", reasons},
		{"Missing justification", allowed[p.AllowMissing]},
		{"Unknown reasons", allowed[p.AllowUnknown]},
	}
	if p.Default {
		fields = append(fields, field{"Default", "yes (no policy set for this app)"})
	}
	fields = append(fields, field{"Updated", p.UpdateTime})
	return printFields(g.stdout, fields)
}

// ekmAppNameRE is the syntax of app names (1 to 63 characters of a-z, 0-9
// and '-', starting with a letter); checking it also keeps a name from
// changing the path of the request.
var ekmAppNameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)

// checkEKMAppName returns a usage error unless s is a valid app name.
func checkEKMAppName(s string) error {
	if !ekmAppNameRE.MatchString(s) {
		return usageErrorf("%q is not a valid app name: 1 to 63 characters of a-z, 0-9 and '-', starting with a letter", s)
	}
	return nil
}

// serverEnvDuration is the duration in the environment variable name, or
// def if it is unset or not a duration (the flag's own parsing then
// reports a bad command-line value).
func serverEnvDuration(name string, def time.Duration) time.Duration {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
	}
	return def
}

// serverEnvList is the comma-separated list in the environment variable
// name, or nil.
func serverEnvList(name string) []string {
	var out []string
	for s := range strings.SplitSeq(os.Getenv(name), ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
