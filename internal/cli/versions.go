// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"cloud.google.com/go/kms/apiv1/kmspb"
	"github.com/spf13/cobra"
)

func newVersionsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "versions",
		Short: "List, show, enable, disable, destroy and restore key versions",
		Long: `List, show, enable, disable, destroy and restore key versions (Cloud KMS
CryptoKeyVersions).

A version holds key material and a state: ENABLED versions can be used,
DISABLED ones cannot until enabled again, DESTROY_SCHEDULED ones can be
restored (to DISABLED) until their destroy time, DESTROYED ones are gone.
To create a version use "custos keys rotate".`,
		Example: `  custos versions list projects/p/locations/global/keyRings/app/cryptoKeys/db
  custos versions disable projects/p/locations/global/keyRings/app/cryptoKeys/db/cryptoKeyVersions/1
  custos versions destroy projects/p/locations/global/keyRings/app/cryptoKeys/db/cryptoKeyVersions/1
  custos versions restore projects/p/locations/global/keyRings/app/cryptoKeys/db/cryptoKeyVersions/1`,
		Args: groupArgs,
		RunE: groupRun,
	}
	cmd.AddCommand(
		newVersionsListCmd(g),
		newVersionsGetCmd(g),
		newVersionStateCmd(g, "enable", "Enable a key version",
			`Enable the DISABLED version VERSION_NAME with PATCH /v1/VERSION_NAME?updateMask=state
and {"state": "ENABLED"}. Prints the version.`, kmspb.CryptoKeyVersion_ENABLED),
		newVersionStateCmd(g, "disable", "Disable a key version",
			`Disable the ENABLED version VERSION_NAME with PATCH /v1/VERSION_NAME?updateMask=state
and {"state": "DISABLED"}: it can no longer encrypt, decrypt, sign or MAC
until enabled again. Prints the version.`, kmspb.CryptoKeyVersion_DISABLED),
		newVersionActionCmd(g, "destroy", "Schedule a key version for destruction",
			`Schedule the version VERSION_NAME for destruction with POST /v1/VERSION_NAME:destroy.
The version becomes DESTROY_SCHEDULED and its material is destroyed after the
key's destroy-scheduled duration, unless restored first. Prints the version.`),
		newVersionActionCmd(g, "restore", "Cancel the scheduled destruction of a key version",
			`Restore the DESTROY_SCHEDULED version VERSION_NAME with POST /v1/VERSION_NAME:restore.
The version becomes DISABLED; enable it to use it again. Prints the version.`),
	)
	return cmd
}

func newVersionsListCmd(g *globals) *cobra.Command {
	var filter, orderBy, view string
	cmd := &cobra.Command{
		Use:   "list KEY_NAME",
		Short: "List the versions of a key",
		Long: `List the versions of KEY_NAME (projects/P/locations/L/keyRings/R/cryptoKeys/K),
following every page.

--filter and --order-by take Cloud KMS expressions (e.g. state=ENABLED,
"name desc"); --view FULL asks for every field, attestations included.
Text output is a table; --output json prints one array of CryptoKeyVersion
objects.`,
		Example: `  custos versions list projects/p/locations/global/keyRings/app/cryptoKeys/db
  custos versions list projects/p/locations/global/keyRings/app/cryptoKeys/db --filter state=ENABLED -o json`,
		Args: exactArgs("KEY_NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := parseAs(args[0], kindCryptoKey)
			if err != nil {
				return err
			}
			q := listQuery(filter, orderBy)
			switch strings.ToUpper(view) {
			case "":
			case "FULL":
				q.Set("view", "FULL")
			default:
				return usageErrorf("--view: unknown value %q; want FULL", view)
			}
			return g.do(cmd, func(ctx context.Context, c *client) error {
				return printList(ctx, g, c, key.path("/cryptoKeyVersions"), "cryptoKeyVersions", q, fmt.Sprintf("no versions of %s", key),
					[]string{"NAME", "STATE", "ALGORITHM", "PROTECTION", "CREATED"}, func(v *kmspb.CryptoKeyVersion) []string {
						return []string{
							v.GetName(), enumName(v.GetState()), enumName(v.GetAlgorithm()),
							enumName(v.GetProtectionLevel()), formatTime(v.GetCreateTime()),
						}
					})
			})
		},
	}
	addListFlags(cmd, &filter, &orderBy)
	cmd.Flags().StringVar(&view, "view", "", "`VIEW` of each version: FULL includes attestations")
	return cmd
}

func newVersionsGetCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "get VERSION_NAME",
		Short:   "Show a key version",
		Long:    `Show the key version VERSION_NAME (projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/N).`,
		Example: `  custos versions get projects/p/locations/global/keyRings/app/cryptoKeys/db/cryptoKeyVersions/1`,
		Args:    exactArgs("VERSION_NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := parseAs(args[0], kindVersion)
			if err != nil {
				return err
			}
			return g.do(cmd, func(ctx context.Context, c *client) error {
				raw, err := c.get(ctx, v.path(""), nil)
				if err != nil {
					return err
				}
				return g.printVersion(raw)
			})
		},
	}
}

// newVersionStateCmd builds enable and disable: a PATCH of the state.
func newVersionStateCmd(g *globals, use, short, long string, state kmspb.CryptoKeyVersion_CryptoKeyVersionState) *cobra.Command {
	return &cobra.Command{
		Use:     use + " VERSION_NAME",
		Short:   short,
		Long:    long,
		Example: "  custos versions " + use + " projects/p/locations/global/keyRings/app/cryptoKeys/db/cryptoKeyVersions/1",
		Args:    exactArgs("VERSION_NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := parseAs(args[0], kindVersion)
			if err != nil {
				return err
			}
			return g.do(cmd, func(ctx context.Context, c *client) error {
				body := &kmspb.CryptoKeyVersion{State: state}
				raw, err := c.patch(ctx, v.path(""), url.Values{"updateMask": {"state"}}, body)
				if err != nil {
					return err
				}
				return g.printVersion(raw)
			})
		},
	}
}

// newVersionActionCmd builds destroy and restore: POST VERSION:verb.
func newVersionActionCmd(g *globals, verb, short, long string) *cobra.Command {
	return &cobra.Command{
		Use:     verb + " VERSION_NAME",
		Short:   short,
		Long:    long,
		Example: "  custos versions " + verb + " projects/p/locations/global/keyRings/app/cryptoKeys/db/cryptoKeyVersions/1",
		Args:    exactArgs("VERSION_NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := parseAs(args[0], kindVersion)
			if err != nil {
				return err
			}
			return g.do(cmd, func(ctx context.Context, c *client) error {
				raw, err := c.post(ctx, v.path(":"+verb), nil, nil)
				if err != nil {
					return err
				}
				return g.printVersion(raw)
			})
		},
	}
}

// printVersion prints a CryptoKeyVersion response.
func (g *globals) printVersion(raw []byte) error {
	if g.json() {
		return printJSON(g.stdout, raw)
	}
	v := &kmspb.CryptoKeyVersion{}
	if err := unmarshal(raw, v); err != nil {
		return err
	}
	fields := []field{
		{"Name", v.GetName()},
		{"State", enumName(v.GetState())},
		{"Algorithm", enumName(v.GetAlgorithm())},
		{"Protection level", enumName(v.GetProtectionLevel())},
		{"Created", formatTime(v.GetCreateTime())},
		{"Generated", formatTime(v.GetGenerateTime())},
		{"Destroy time", formatTime(v.GetDestroyTime())},
		{"Destroyed", formatTime(v.GetDestroyEventTime())},
		{"Import job", v.GetImportJob()},
		{"Imported", formatTime(v.GetImportTime())},
		{"Import failure", v.GetImportFailureReason()},
		{"Generation failure", v.GetGenerationFailureReason()},
		{"External URI", v.GetExternalProtectionLevelOptions().GetExternalKeyUri()},
	}
	fields = append(fields, extensionFields(raw, knownFields(v))...)
	return printFields(g.stdout, fields)
}
