// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/kms/apiv1/kmspb"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func newKeysCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "keys",
		Aliases: []string{"key"},
		Short:   "Create, list, show, update and rotate keys",
		Long: `Create, list, show, update and rotate keys (Cloud KMS CryptoKeys).

A key has a purpose, a template for new versions (algorithm and protection
level), an optional rotation schedule and labels. Its material lives in its
versions; see "custos versions".`,
		Example: `  custos keys create projects/p/locations/global/keyRings/app/cryptoKeys/db
  custos keys create projects/p/locations/global/keyRings/app/cryptoKeys/signer --purpose ASYMMETRIC_SIGN --algorithm EC_SIGN_P256_SHA256
  custos keys list projects/p/locations/global/keyRings/app
  custos keys rotate projects/p/locations/global/keyRings/app/cryptoKeys/db`,
		Args: groupArgs,
		RunE: groupRun,
	}
	cmd.AddCommand(
		newKeysCreateCmd(g),
		newKeysListCmd(g),
		newKeysGetCmd(g),
		newKeysUpdateCmd(g),
		newKeysRotateCmd(g),
		newKeysSetPrimaryCmd(g),
	)
	return cmd
}

// defaultAlgorithms is the algorithm used when keys create is given a
// purpose but no --algorithm.
var defaultAlgorithms = map[kmspb.CryptoKey_CryptoKeyPurpose]kmspb.CryptoKeyVersion_CryptoKeyVersionAlgorithm{
	kmspb.CryptoKey_ENCRYPT_DECRYPT:     kmspb.CryptoKeyVersion_GOOGLE_SYMMETRIC_ENCRYPTION,
	kmspb.CryptoKey_ASYMMETRIC_SIGN:     kmspb.CryptoKeyVersion_EC_SIGN_P256_SHA256,
	kmspb.CryptoKey_ASYMMETRIC_DECRYPT:  kmspb.CryptoKeyVersion_RSA_DECRYPT_OAEP_3072_SHA256,
	kmspb.CryptoKey_MAC:                 kmspb.CryptoKeyVersion_HMAC_SHA256,
	kmspb.CryptoKey_RAW_ENCRYPT_DECRYPT: kmspb.CryptoKeyVersion_AES_256_GCM,
	kmspb.CryptoKey_AES_WRAPPING:        kmspb.CryptoKeyVersion_AES_256_KWP,
	kmspb.CryptoKey_KEY_ENCAPSULATION:   kmspb.CryptoKeyVersion_ML_KEM_768,
}

// purposeOf infers the purpose of a key from its algorithm, following the
// algorithm naming of Cloud KMS.
func purposeOf(a kmspb.CryptoKeyVersion_CryptoKeyVersionAlgorithm) (kmspb.CryptoKey_CryptoKeyPurpose, bool) {
	s := a.String()
	switch {
	case a == kmspb.CryptoKeyVersion_GOOGLE_SYMMETRIC_ENCRYPTION,
		a == kmspb.CryptoKeyVersion_EXTERNAL_SYMMETRIC_ENCRYPTION:
		return kmspb.CryptoKey_ENCRYPT_DECRYPT, true
	case a == kmspb.CryptoKeyVersion_AES_256_KWP:
		return kmspb.CryptoKey_AES_WRAPPING, true
	case strings.HasPrefix(s, "AES_"):
		return kmspb.CryptoKey_RAW_ENCRYPT_DECRYPT, true
	case strings.Contains(s, "_SIGN_"):
		return kmspb.CryptoKey_ASYMMETRIC_SIGN, true
	case strings.HasPrefix(s, "RSA_DECRYPT_"):
		return kmspb.CryptoKey_ASYMMETRIC_DECRYPT, true
	case strings.HasPrefix(s, "HMAC_"):
		return kmspb.CryptoKey_MAC, true
	case strings.HasPrefix(s, "ML_KEM_"), strings.HasPrefix(s, "KEM_"):
		return kmspb.CryptoKey_KEY_ENCAPSULATION, true
	}
	return 0, false
}

// parseEnum parses the name of a value of an enum given its name→value map
// (case-insensitive), refusing the UNSPECIFIED value. flag names the flag
// for the error.
func parseEnum(flag, s string, values map[string]int32) (int32, error) {
	v, ok := values[strings.ToUpper(strings.TrimSpace(s))]
	if !ok || v == 0 {
		var names []string
		for n, v := range values {
			if v != 0 {
				names = append(names, n)
			}
		}
		slices.Sort(names)
		return 0, usageErrorf("--%s: unknown value %q; want one of %s", flag, s, strings.Join(names, ", "))
	}
	return v, nil
}

func parseAlgorithm(flag, s string) (kmspb.CryptoKeyVersion_CryptoKeyVersionAlgorithm, error) {
	v, err := parseEnum(flag, s, kmspb.CryptoKeyVersion_CryptoKeyVersionAlgorithm_value)
	return kmspb.CryptoKeyVersion_CryptoKeyVersionAlgorithm(v), err
}

func parsePurpose(flag, s string) (kmspb.CryptoKey_CryptoKeyPurpose, error) {
	v, err := parseEnum(flag, s, kmspb.CryptoKey_CryptoKeyPurpose_value)
	return kmspb.CryptoKey_CryptoKeyPurpose(v), err
}

func parseProtectionLevel(flag, s string) (kmspb.ProtectionLevel, error) {
	v, err := parseEnum(flag, s, kmspb.ProtectionLevel_value)
	return kmspb.ProtectionLevel(v), err
}

// parseLabels parses "k=v,k2=v2".
func parseLabels(flag, s string) (map[string]string, error) {
	labels := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, usageErrorf("--%s: %q is not a key=value pair", flag, kv)
		}
		if _, dup := labels[k]; dup {
			return nil, usageErrorf("--%s: label %q given twice", flag, k)
		}
		labels[k] = strings.TrimSpace(v)
	}
	return labels, nil
}

// parseTime parses an RFC 3339 time for flag.
func parseTime(flag, s string) (*timestamppb.Timestamp, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return nil, usageErrorf("--%s: %q is not an RFC 3339 time like 2030-01-02T15:04:05Z", flag, s)
	}
	return timestamppb.New(t), nil
}

// now is time.Now, replaced in tests.
var now = time.Now

// positiveDuration checks a duration flag and converts it.
func positiveDuration(flag string, d time.Duration) (*durationpb.Duration, error) {
	if d <= 0 {
		return nil, usageErrorf("--%s must be positive, not %v", flag, d)
	}
	return durationpb.New(d), nil
}

// keyCreateOptions are the flags of keys create.
type keyCreateOptions struct {
	purpose, algorithm, protectionLevel string
	rotationPeriod, destroyScheduled    time.Duration
	nextRotation, labels                string
	skipInitialVersion, importOnly      bool
	exportable                          bool
}

// buildKeyCreate turns the flags of keys create into the request body and
// query. fs tells set flags from defaults.
func buildKeyCreate(key resName, o *keyCreateOptions, fs *pflag.FlagSet) (*kmspb.CryptoKey, url.Values, error) {
	ck := &kmspb.CryptoKey{VersionTemplate: &kmspb.CryptoKeyVersionTemplate{}}
	var alg kmspb.CryptoKeyVersion_CryptoKeyVersionAlgorithm
	var err error
	if fs.Changed("algorithm") {
		if alg, err = parseAlgorithm("algorithm", o.algorithm); err != nil {
			return nil, nil, err
		}
	}
	switch {
	case fs.Changed("purpose"):
		if ck.Purpose, err = parsePurpose("purpose", o.purpose); err != nil {
			return nil, nil, err
		}
	case alg != 0:
		p, ok := purposeOf(alg)
		if !ok {
			return nil, nil, usageErrorf("cannot tell the purpose of %s; set --purpose", alg)
		}
		ck.Purpose = p
	default:
		ck.Purpose = kmspb.CryptoKey_ENCRYPT_DECRYPT
	}
	if alg == 0 {
		a, ok := defaultAlgorithms[ck.Purpose]
		if !ok {
			return nil, nil, usageErrorf("no default algorithm for purpose %s; set --algorithm", ck.Purpose)
		}
		alg = a
	}
	ck.VersionTemplate.Algorithm = alg
	if fs.Changed("protection-level") {
		if ck.VersionTemplate.ProtectionLevel, err = parseProtectionLevel("protection-level", o.protectionLevel); err != nil {
			return nil, nil, err
		}
	}
	if fs.Changed("rotation-period") {
		d, err := positiveDuration("rotation-period", o.rotationPeriod)
		if err != nil {
			return nil, nil, err
		}
		ck.RotationSchedule = &kmspb.CryptoKey_RotationPeriod{RotationPeriod: d}
	}
	if fs.Changed("next-rotation-time") {
		if ck.NextRotationTime, err = parseTime("next-rotation-time", o.nextRotation); err != nil {
			return nil, nil, err
		}
	} else if ck.RotationSchedule != nil {
		// Cloud KMS wants both fields; the first rotation comes one period
		// from now unless the caller says otherwise.
		ck.NextRotationTime = timestamppb.New(now().Add(o.rotationPeriod).Truncate(time.Second))
	}
	if fs.Changed("destroy-scheduled-duration") {
		if ck.DestroyScheduledDuration, err = positiveDuration("destroy-scheduled-duration", o.destroyScheduled); err != nil {
			return nil, nil, err
		}
	}
	if fs.Changed("labels") {
		if ck.Labels, err = parseLabels("labels", o.labels); err != nil {
			return nil, nil, err
		}
	}
	ck.ImportOnly = o.importOnly

	q := url.Values{"cryptoKeyId": {key.cryptoKey}}
	// An import-only key starts with no version: Cloud KMS requires
	// skipInitialVersionCreation with importOnly.
	if o.skipInitialVersion || o.importOnly {
		q.Set("skipInitialVersionCreation", "true")
	}
	if o.exportable {
		q.Set("exportable", "true") // Custos extension
	}
	return ck, q, nil
}

func newKeysCreateCmd(g *globals) *cobra.Command {
	o := &keyCreateOptions{}
	cmd := &cobra.Command{
		Use:   "create KEY_NAME",
		Short: "Create a key",
		Long: `Create the key KEY_NAME (projects/P/locations/L/keyRings/R/cryptoKeys/K) and,
unless --skip-initial-version or --import-only, its first version.

--purpose defaults to ENCRYPT_DECRYPT, or to the purpose of --algorithm when
only the algorithm is given. --algorithm takes a Cloud KMS
CryptoKeyVersionAlgorithm name and defaults by purpose:

  ENCRYPT_DECRYPT       GOOGLE_SYMMETRIC_ENCRYPTION
  ASYMMETRIC_SIGN       EC_SIGN_P256_SHA256
  ASYMMETRIC_DECRYPT    RSA_DECRYPT_OAEP_3072_SHA256
  MAC                   HMAC_SHA256
  RAW_ENCRYPT_DECRYPT   AES_256_GCM
  AES_WRAPPING          AES_256_KWP
  KEY_ENCAPSULATION     ML_KEM_768

Durations are Go durations (720h, 90s) and are sent as proto3 JSON durations
("2592000s"). --rotation-period without --next-rotation-time schedules the
first rotation one period from now. --import-only implies --skip-initial-version. --exportable sends
the Custos extension query parameter exportable=true, which allows the key's
material to be exported later.`,
		Example: `  custos keys create projects/p/locations/global/keyRings/app/cryptoKeys/db --rotation-period 720h --labels team=payments
  custos keys create projects/p/locations/global/keyRings/app/cryptoKeys/signer --algorithm EC_SIGN_P384_SHA384
  custos keys create projects/p/locations/global/keyRings/app/cryptoKeys/hmac --purpose MAC
  custos keys create projects/p/locations/global/keyRings/app/cryptoKeys/raw --purpose RAW_ENCRYPT_DECRYPT --algorithm AES_128_GCM
  custos keys create projects/p/locations/global/keyRings/app/cryptoKeys/imported --purpose ENCRYPT_DECRYPT --import-only`,
		Args: exactArgs("KEY_NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := parseAs(args[0], kindCryptoKey)
			if err != nil {
				return err
			}
			body, q, err := buildKeyCreate(key, o, cmd.Flags())
			if err != nil {
				return err
			}
			return g.do(cmd, func(ctx context.Context, c *client) error {
				raw, err := c.post(ctx, key.parent().path("/cryptoKeys"), q, body)
				if err != nil {
					return err
				}
				return g.printKey(raw)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.purpose, "purpose", "ENCRYPT_DECRYPT", "key `PURPOSE`: ENCRYPT_DECRYPT, ASYMMETRIC_SIGN, ASYMMETRIC_DECRYPT, MAC, RAW_ENCRYPT_DECRYPT, ...")
	f.StringVar(&o.algorithm, "algorithm", "", "version `ALGORITHM`, a Cloud KMS algorithm name (default: by purpose, see above)")
	f.StringVar(&o.protectionLevel, "protection-level", "", "`LEVEL` of new versions: SOFTWARE or HSM (default: the server's)")
	f.DurationVar(&o.rotationPeriod, "rotation-period", 0, "rotate automatically every `DURATION`, e.g. 720h")
	f.StringVar(&o.nextRotation, "next-rotation-time", "", "first automatic rotation at `TIME` (RFC 3339)")
	f.DurationVar(&o.destroyScheduled, "destroy-scheduled-duration", 0, "delay between destroy and destruction, e.g. 24h (default: the server's)")
	f.StringVar(&o.labels, "labels", "", "labels as `k=v,k2=v2`")
	f.BoolVar(&o.skipInitialVersion, "skip-initial-version", false, "create no first version")
	f.BoolVar(&o.importOnly, "import-only", false, "the key only accepts imported versions")
	f.BoolVar(&o.exportable, "exportable", false, "allow the key material to be exported (Custos extension)")
	return cmd
}

func newKeysListCmd(g *globals) *cobra.Command {
	var filter, orderBy string
	cmd := &cobra.Command{
		Use:   "list RING_NAME",
		Short: "List the keys in a key ring",
		Long: `List the keys in RING_NAME (projects/P/locations/L/keyRings/R), following every page.

Text output is a table with the primary version's id; --output json prints one
array of CryptoKey objects.`,
		Example: `  custos keys list projects/p/locations/global/keyRings/app
  custos keys list projects/p/locations/global/keyRings/app --filter 'purpose=ASYMMETRIC_SIGN' -o json`,
		Args: exactArgs("RING_NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ring, err := parseAs(args[0], kindKeyRing)
			if err != nil {
				return err
			}
			q := listQuery(filter, orderBy)
			return g.do(cmd, func(ctx context.Context, c *client) error {
				return printList(ctx, g, c, ring.path("/cryptoKeys"), "cryptoKeys", q, fmt.Sprintf("no keys in %s", ring),
					[]string{"NAME", "PURPOSE", "ALGORITHM", "PRIMARY", "CREATED"}, func(ck *kmspb.CryptoKey) []string {
						primary := ""
						if p := ck.GetPrimary(); p != nil {
							primary = lastSegment(p.GetName())
						}
						return []string{
							ck.GetName(), enumName(ck.GetPurpose()), enumName(ck.GetVersionTemplate().GetAlgorithm()),
							primary, formatTime(ck.GetCreateTime()),
						}
					})
			})
		},
	}
	addListFlags(cmd, &filter, &orderBy)
	return cmd
}

func newKeysGetCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "get KEY_NAME",
		Short:   "Show a key",
		Long:    `Show the key KEY_NAME (projects/P/locations/L/keyRings/R/cryptoKeys/K) and its primary version.`,
		Example: `  custos keys get projects/p/locations/global/keyRings/app/cryptoKeys/db -o json`,
		Args:    exactArgs("KEY_NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := parseAs(args[0], kindCryptoKey)
			if err != nil {
				return err
			}
			return g.do(cmd, func(ctx context.Context, c *client) error {
				raw, err := c.get(ctx, key.path(""), nil)
				if err != nil {
					return err
				}
				return g.printKey(raw)
			})
		},
	}
}

// keyUpdateOptions are the flags of keys update.
type keyUpdateOptions struct {
	rotationPeriod         time.Duration
	nextRotation           string
	removeRotationSchedule bool
	labels                 string
	clearLabels            bool
	defaultAlgorithm       string
}

// buildKeyUpdate turns the flags of keys update into the request body and
// the update mask (lowerCamel field paths, the proto3 JSON form of a
// FieldMask). It is a usage error to set no field or contradictory flags.
func buildKeyUpdate(o *keyUpdateOptions, fs *pflag.FlagSet) (*kmspb.CryptoKey, []string, error) {
	ck := &kmspb.CryptoKey{}
	var mask []string
	var err error
	if o.removeRotationSchedule && (fs.Changed("rotation-period") || fs.Changed("next-rotation-time")) {
		return nil, nil, usageErrorf("--remove-rotation-schedule conflicts with --rotation-period and --next-rotation-time")
	}
	if o.clearLabels && fs.Changed("labels") {
		return nil, nil, usageErrorf("--clear-labels conflicts with --labels")
	}
	if fs.Changed("rotation-period") {
		d, err := positiveDuration("rotation-period", o.rotationPeriod)
		if err != nil {
			return nil, nil, err
		}
		ck.RotationSchedule = &kmspb.CryptoKey_RotationPeriod{RotationPeriod: d}
		mask = append(mask, "rotationPeriod")
	}
	if fs.Changed("next-rotation-time") {
		if ck.NextRotationTime, err = parseTime("next-rotation-time", o.nextRotation); err != nil {
			return nil, nil, err
		}
		mask = append(mask, "nextRotationTime")
	}
	if o.removeRotationSchedule {
		// Both fields in the mask and unset in the body clears them.
		mask = append(mask, "rotationPeriod", "nextRotationTime")
	}
	if fs.Changed("labels") {
		if ck.Labels, err = parseLabels("labels", o.labels); err != nil {
			return nil, nil, err
		}
		mask = append(mask, "labels")
	}
	if o.clearLabels {
		mask = append(mask, "labels")
	}
	if fs.Changed("default-algorithm") {
		alg, err := parseAlgorithm("default-algorithm", o.defaultAlgorithm)
		if err != nil {
			return nil, nil, err
		}
		ck.VersionTemplate = &kmspb.CryptoKeyVersionTemplate{Algorithm: alg}
		mask = append(mask, "versionTemplate.algorithm")
	}
	if len(mask) == 0 {
		return nil, nil, usageErrorf("nothing to update; set at least one of --rotation-period, --next-rotation-time, --remove-rotation-schedule, --labels, --clear-labels, --default-algorithm")
	}
	return ck, mask, nil
}

func newKeysUpdateCmd(g *globals) *cobra.Command {
	o := &keyUpdateOptions{}
	cmd := &cobra.Command{
		Use:   "update KEY_NAME",
		Short: "Change a key's rotation schedule, labels or default algorithm",
		Long: `Update the key KEY_NAME with PATCH /v1/KEY_NAME?updateMask=...; the update
mask names exactly the fields the flags set.

--labels replaces all the labels; --clear-labels removes them.
--remove-rotation-schedule clears both the rotation period and the next
rotation time. --default-algorithm changes the algorithm of future versions.`,
		Example: `  custos keys update projects/p/locations/global/keyRings/app/cryptoKeys/db --rotation-period 2160h --next-rotation-time 2030-01-01T00:00:00Z
  custos keys update projects/p/locations/global/keyRings/app/cryptoKeys/db --labels team=payments,env=prod
  custos keys update projects/p/locations/global/keyRings/app/cryptoKeys/db --remove-rotation-schedule --clear-labels`,
		Args: exactArgs("KEY_NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := parseAs(args[0], kindCryptoKey)
			if err != nil {
				return err
			}
			body, mask, err := buildKeyUpdate(o, cmd.Flags())
			if err != nil {
				return err
			}
			return g.do(cmd, func(ctx context.Context, c *client) error {
				raw, err := c.patch(ctx, key.path(""), url.Values{"updateMask": {strings.Join(mask, ",")}}, body)
				if err != nil {
					return err
				}
				return g.printKey(raw)
			})
		},
	}
	f := cmd.Flags()
	f.DurationVar(&o.rotationPeriod, "rotation-period", 0, "rotate automatically every `DURATION`, e.g. 720h")
	f.StringVar(&o.nextRotation, "next-rotation-time", "", "next automatic rotation at `TIME` (RFC 3339)")
	f.BoolVar(&o.removeRotationSchedule, "remove-rotation-schedule", false, "stop automatic rotation")
	f.StringVar(&o.labels, "labels", "", "replace the labels with `k=v,k2=v2`")
	f.BoolVar(&o.clearLabels, "clear-labels", false, "remove every label")
	f.StringVar(&o.defaultAlgorithm, "default-algorithm", "", "`ALGORITHM` of new versions")
	return cmd
}

func newKeysRotateCmd(g *globals) *cobra.Command {
	var noPrimary bool
	cmd := &cobra.Command{
		Use:   "rotate KEY_NAME",
		Short: "Create a new key version and make it primary",
		Long: `Create a new version of KEY_NAME and print it. For an ENCRYPT_DECRYPT key the
new version also becomes the primary version (the one encrypt uses) unless
--no-primary is given; other purposes have no primary version.`,
		Example: `  custos keys rotate projects/p/locations/global/keyRings/app/cryptoKeys/db
  custos keys rotate projects/p/locations/global/keyRings/app/cryptoKeys/db --no-primary -o json`,
		Args: exactArgs("KEY_NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := parseAs(args[0], kindCryptoKey)
			if err != nil {
				return err
			}
			return g.do(cmd, func(ctx context.Context, c *client) error {
				raw, err := c.get(ctx, key.path(""), nil)
				if err != nil {
					return err
				}
				ck := &kmspb.CryptoKey{}
				if err := unmarshal(raw, ck); err != nil {
					return err
				}
				raw, err = c.post(ctx, key.path("/cryptoKeyVersions"), nil, nil)
				if err != nil {
					return err
				}
				v := &kmspb.CryptoKeyVersion{}
				if err := unmarshal(raw, v); err != nil {
					return err
				}
				if ck.GetPurpose() == kmspb.CryptoKey_ENCRYPT_DECRYPT && !noPrimary {
					id := lastSegment(v.GetName())
					req := &kmspb.UpdateCryptoKeyPrimaryVersionRequest{CryptoKeyVersionId: id}
					if _, err := c.post(ctx, key.path(":updatePrimaryVersion"), nil, req); err != nil {
						return fmt.Errorf("created %s but could not make it primary: %w", v.GetName(), err)
					}
					notef(g.stderr, "version %s is now the primary version of %s", id, key)
				}
				return g.printVersion(raw)
			})
		},
	}
	cmd.Flags().BoolVar(&noPrimary, "no-primary", false, "do not make the new version primary")
	return cmd
}

func newKeysSetPrimaryCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "set-primary KEY_NAME VERSION",
		Short: "Make a version the primary version of a key",
		Long: `Make VERSION the primary version of the ENCRYPT_DECRYPT key KEY_NAME, with
POST /v1/KEY_NAME:updatePrimaryVersion. VERSION is a version id ("2") or the
full version name, which must belong to KEY_NAME. Prints the key.`,
		Example: `  custos keys set-primary projects/p/locations/global/keyRings/app/cryptoKeys/db 2
  custos keys set-primary projects/p/locations/global/keyRings/app/cryptoKeys/db projects/p/locations/global/keyRings/app/cryptoKeys/db/cryptoKeyVersions/2`,
		Args: exactArgs("KEY_NAME", "VERSION"),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := parseAs(args[0], kindCryptoKey)
			if err != nil {
				return err
			}
			id, err := versionID(key, args[1])
			if err != nil {
				return err
			}
			return g.do(cmd, func(ctx context.Context, c *client) error {
				req := &kmspb.UpdateCryptoKeyPrimaryVersionRequest{CryptoKeyVersionId: id}
				raw, err := c.post(ctx, key.path(":updatePrimaryVersion"), nil, req)
				if err != nil {
					return err
				}
				return g.printKey(raw)
			})
		},
	}
}

// versionID returns the id of s, a version id or a version name of key.
func versionID(key resName, s string) (string, error) {
	if !strings.Contains(s, "/") {
		if !versionIDRE.MatchString(s) {
			return "", usageErrorf("%q is not a version id or a version name", s)
		}
		return s, nil
	}
	v, err := parseAs(s, kindVersion)
	if err != nil {
		return "", err
	}
	if v.parent() != key {
		return "", usageErrorf("version %s does not belong to key %s", v, key)
	}
	return v.version, nil
}

// lastSegment returns the part of a resource name after its last slash.
func lastSegment(name string) string {
	return name[strings.LastIndexByte(name, '/')+1:]
}

// printKey prints a CryptoKey response.
func (g *globals) printKey(raw []byte) error {
	if g.json() {
		return printJSON(g.stdout, raw)
	}
	ck := &kmspb.CryptoKey{}
	if err := unmarshal(raw, ck); err != nil {
		return err
	}
	primary := ""
	if p := ck.GetPrimary(); p != nil {
		primary = fmt.Sprintf("%s (%s)", p.GetName(), enumName(p.GetState()))
	}
	importOnly := ""
	if ck.GetImportOnly() {
		importOnly = "true"
	}
	fields := []field{
		{"Name", ck.GetName()},
		{"Purpose", enumName(ck.GetPurpose())},
		{"Algorithm", enumName(ck.GetVersionTemplate().GetAlgorithm())},
		{"Protection level", enumName(ck.GetVersionTemplate().GetProtectionLevel())},
		{"Primary version", primary},
		{"Rotation period", formatDuration(ck.GetRotationPeriod())},
		{"Next rotation", formatTime(ck.GetNextRotationTime())},
		{"Destroy delay", formatDuration(ck.GetDestroyScheduledDuration())},
		{"Labels", formatLabels(ck.GetLabels())},
		{"Import only", importOnly},
		{"Backend", ck.GetCryptoKeyBackend()},
		{"Created", formatTime(ck.GetCreateTime())},
	}
	fields = append(fields, extensionFields(raw, knownFields(ck))...)
	return printFields(g.stdout, fields)
}
