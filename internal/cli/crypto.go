// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	_ "crypto/sha1" // RSA_DECRYPT_OAEP_*_SHA1
	_ "crypto/sha256"
	_ "crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"

	"cloud.google.com/go/kms/apiv1/kmspb"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// maxInputBytes bounds what the CLI reads from a file or stdin. Cloud KMS
// accepts at most 64 KiB of plaintext or data; the server has the last word.
const maxInputBytes = 16 << 20

// readInput reads the file path, or stdin for "-".
func (g *globals) readInput(flag, path string) ([]byte, error) {
	var r io.Reader
	if path == "-" {
		r = g.stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", flag, err)
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, maxInputBytes+1))
	if err != nil {
		if path == "-" {
			return nil, fmt.Errorf("--%s: reading stdin: %w", flag, err)
		}
		return nil, fmt.Errorf("--%s: %w", flag, err)
	}
	if len(data) > maxInputBytes {
		return nil, fmt.Errorf("--%s: %s is larger than %d bytes", flag, displayPath(path), maxInputBytes)
	}
	return data, nil
}

// writeOutput writes data to the file path (mode 0600, since it may hold
// plaintext), or to stdout for "-". An existing regular file is made 0600
// before data is written to it: os.WriteFile alone would keep its mode,
// and write plaintext into a file that others may read.
func (g *globals) writeOutput(flag, path string, data []byte) error {
	if path == "-" {
		_, err := g.stdout.Write(data)
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("--%s: %w", flag, err)
	}
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o077 != 0 {
		err = f.Chmod(0o600)
		if err != nil {
			f.Close()
			return fmt.Errorf("--%s: %w", flag, err)
		}
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("--%s: %w", flag, err)
	}
	return nil
}

func displayPath(path string) string {
	if path == "-" {
		return "stdin"
	}
	return path
}

// oneStdin checks that at most one of the named inputs reads stdin.
func oneStdin(inputs map[string]string) error {
	var users []string
	for flag, path := range inputs {
		if path == "-" {
			users = append(users, "--"+flag)
		}
	}
	if len(users) > 1 {
		return usageErrorf("only one input can be stdin (\"-\"), got %v", users)
	}
	return nil
}

// noOutFileWithJSON refuses --out FILE with --output json: the JSON object
// always goes to stdout.
func (g *globals) noOutFileWithJSON(out string) error {
	if g.json() && out != "-" {
		return usageErrorf("--out writes raw bytes; with --output json the response object goes to stdout")
	}
	return nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crc32c returns the CRC32C checksum of data as Cloud KMS sends it.
func crc32c(data []byte) *wrapperspb.Int64Value {
	return wrapperspb.Int64(int64(crc32.Checksum(data, castagnoli)))
}

// checkCRC checks data against the checksum the server sent, if any.
func checkCRC(what string, data []byte, sum *wrapperspb.Int64Value) error {
	if sum == nil {
		return nil
	}
	if got := crc32c(data).GetValue(); got != sum.GetValue() {
		return fmt.Errorf("the %s was corrupted in transit (crc32c %d, server sent %d)", what, got, sum.GetValue())
	}
	return nil
}

// printChecked ends a crypto command: it checks data, the answer's result,
// against the checksum the server sent with it, then prints the answer's
// JSON with --output json, or data to the --out file.
func (g *globals) printChecked(body []byte, what string, data []byte, sum *wrapperspb.Int64Value, out string) error {
	if err := checkCRC(what, data, sum); err != nil {
		return err
	}
	if g.json() {
		return printJSON(g.stdout, body)
	}
	return g.writeOutput("out", out, data)
}

// aadOptions are --aad and --aad-file.
type aadOptions struct{ text, file string }

func (a *aadOptions) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&a.text, "aad", "", "bind `STRING` as additional authenticated data")
	cmd.Flags().StringVar(&a.file, "aad-file", "", "read the additional authenticated data from `FILE`")
}

func (a *aadOptions) set(cmd *cobra.Command) bool {
	return cmd.Flags().Changed("aad") || cmd.Flags().Changed("aad-file")
}

func (a *aadOptions) read(g *globals, cmd *cobra.Command) ([]byte, error) {
	switch {
	case cmd.Flags().Changed("aad") && cmd.Flags().Changed("aad-file"):
		return nil, usageErrorf("--aad and --aad-file are mutually exclusive")
	case cmd.Flags().Changed("aad-file"):
		return g.readInput("aad-file", a.file)
	case cmd.Flags().Changed("aad"):
		return []byte(a.text), nil
	}
	return nil, nil
}

const rawFormatHelp = `With --raw the key must be a RAW_ENCRYPT_DECRYPT key and NAME a version: the
CLI calls rawEncrypt / rawDecrypt. Raw ciphertext does not carry its IV, so the
IV travels in its own file:

  encrypt --raw --iv-out FILE   writes the ciphertext (for AES-GCM with the tag
                                appended) to --out and the raw IV bytes to FILE;
                                --iv FILE sends a caller-chosen IV instead of
                                letting the server pick one
  decrypt --raw --iv FILE       reads the IV from FILE; --tag-length N gives the
                                tag length in bytes (default: the algorithm's, 16
                                for AES-GCM)

With --output json, encrypt --raw prints the RawEncryptResponse instead
(base64 ciphertext, initializationVector and tagLength) and --iv-out is
optional.`

func newEncryptCmd(g *globals) *cobra.Command {
	var (
		in, out, ivOut, ivIn string
		aad                  aadOptions
		raw, asymmetric      bool
	)
	cmd := &cobra.Command{
		Use:   "encrypt NAME",
		Short: "Encrypt data with a key",
		Long: `Encrypt the plaintext read from --in (stdin by default) and write the raw
ciphertext to --out (stdout by default).

NAME is a key or a version name. For an ENCRYPT_DECRYPT key the CLI calls
POST /v1/NAME:encrypt; a key name uses its primary version. --aad or
--aad-file binds additional authenticated data that decrypt must repeat.
With --output json the EncryptResponse object is printed instead of the raw
bytes (ciphertext in base64).

` + rawFormatHelp + `

With --asymmetric NAME is an ASYMMETRIC_DECRYPT version: the CLI fetches its
public key and encrypts locally with RSA-OAEP (the hash named by the
algorithm), as Cloud KMS clients do; decrypt the result with
"custos decrypt VERSION_NAME".`,
		Example: `  echo -n 'hello' | custos encrypt projects/p/locations/global/keyRings/app/cryptoKeys/db > hello.enc
  custos encrypt projects/p/locations/global/keyRings/app/cryptoKeys/db --in secret.txt --out secret.enc --aad 'user=42'
  custos encrypt projects/p/locations/global/keyRings/app/cryptoKeys/raw/cryptoKeyVersions/1 --raw --in data --out data.enc --iv-out data.iv
  custos encrypt projects/p/locations/global/keyRings/app/cryptoKeys/rsa/cryptoKeyVersions/1 --asymmetric --in key.bin --out key.enc`,
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			fs := cmd.Flags()
			var name resName
			var err error
			switch {
			case raw && asymmetric:
				return usageErrorf("--raw and --asymmetric are mutually exclusive")
			case raw, asymmetric:
				name, err = parseAs(args[0], kindVersion)
			default:
				name, err = parseAs(args[0], kindCryptoKey, kindVersion)
			}
			if err != nil {
				return err
			}
			if !raw && (fs.Changed("iv-out") || fs.Changed("iv")) {
				return usageErrorf("--iv and --iv-out need --raw")
			}
			if raw && !g.json() && ivOut == "" {
				return usageErrorf("--raw needs --iv-out FILE to save the initialization vector (or --output json)")
			}
			if asymmetric && aad.set(cmd) {
				return usageErrorf("--asymmetric takes no additional authenticated data")
			}
			if err := g.noOutFileWithJSON(out); err != nil {
				return err
			}
			if err := oneStdin(map[string]string{"in": in, "aad-file": aad.file, "iv": ivIn}); err != nil {
				return err
			}
			aadBytes, err := aad.read(g, cmd)
			if err != nil {
				return err
			}
			var iv []byte
			if raw && fs.Changed("iv") {
				if iv, err = g.readInput("iv", ivIn); err != nil {
					return err
				}
			}
			return g.do(cmd, func(ctx context.Context, c *client) error {
				plaintext, err := g.readInput("in", in)
				if err != nil {
					return err
				}
				switch {
				case asymmetric:
					return g.encryptAsymmetric(ctx, c, name, plaintext, out)
				case raw:
					return g.encryptRaw(ctx, c, name, plaintext, aadBytes, iv, out, ivOut)
				}
				req := &kmspb.EncryptRequest{
					Plaintext:                         plaintext,
					AdditionalAuthenticatedData:       aadBytes,
					PlaintextCrc32C:                   crc32c(plaintext),
					AdditionalAuthenticatedDataCrc32C: crc32c(aadBytes),
				}
				resp := &kmspb.EncryptResponse{}
				body, err := c.call(ctx, name.path(":encrypt"), req, resp)
				if err != nil {
					return err
				}
				return g.printChecked(body, "ciphertext", resp.GetCiphertext(), resp.GetCiphertextCrc32C(), out)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&in, "in", "-", "read the plaintext from `FILE` (- for stdin)")
	f.StringVar(&out, "out", "-", "write the ciphertext to `FILE` (- for stdout)")
	aad.add(cmd)
	f.BoolVar(&raw, "raw", false, "use rawEncrypt (RAW_ENCRYPT_DECRYPT keys; NAME is a version)")
	f.StringVar(&ivOut, "iv-out", "", "with --raw, write the initialization vector to `FILE`")
	f.StringVar(&ivIn, "iv", "", "with --raw, send the initialization vector read from `FILE`")
	f.BoolVar(&asymmetric, "asymmetric", false, "encrypt locally with the public key of an ASYMMETRIC_DECRYPT version")
	return cmd
}

func (g *globals) encryptRaw(ctx context.Context, c *client, name resName, plaintext, aad, iv []byte, out, ivOut string) error {
	req := &kmspb.RawEncryptRequest{
		Plaintext:                         plaintext,
		AdditionalAuthenticatedData:       aad,
		PlaintextCrc32C:                   crc32c(plaintext),
		AdditionalAuthenticatedDataCrc32C: crc32c(aad),
	}
	if iv != nil {
		req.InitializationVector = iv
		req.InitializationVectorCrc32C = crc32c(iv)
	}
	resp := &kmspb.RawEncryptResponse{}
	body, err := c.call(ctx, name.path(":rawEncrypt"), req, resp)
	if err != nil {
		return err
	}
	if err := checkCRC("ciphertext", resp.GetCiphertext(), resp.GetCiphertextCrc32C()); err != nil {
		return err
	}
	if err := checkCRC("initialization vector", resp.GetInitializationVector(), resp.GetInitializationVectorCrc32C()); err != nil {
		return err
	}
	if ivOut != "" {
		if err := g.writeOutput("iv-out", ivOut, resp.GetInitializationVector()); err != nil {
			return err
		}
	}
	if g.json() {
		return printJSON(g.stdout, body)
	}
	return g.writeOutput("out", out, resp.GetCiphertext())
}

func (g *globals) encryptAsymmetric(ctx context.Context, c *client, name resName, plaintext []byte, out string) error {
	pk, _, err := fetchPublicKey(ctx, c, name)
	if err != nil {
		return err
	}
	pub, err := parsePublicKey(pk)
	if err != nil {
		return err
	}
	h, ok := oaepHashes[pk.GetAlgorithm()]
	if !ok {
		return fmt.Errorf("%s is not an RSA-OAEP algorithm; --asymmetric needs an ASYMMETRIC_DECRYPT version", enumName(pk.GetAlgorithm()))
	}
	rsaPub, ok := pub.(*rsa.PublicKey)
	if !ok {
		return fmt.Errorf("the public key of %s is a %T, not an RSA key", name, pub)
	}
	ciphertext, err := rsa.EncryptOAEP(h.New(), rand.Reader, rsaPub, plaintext, nil)
	if err != nil {
		return fmt.Errorf("encrypting locally with RSA-OAEP: %w", err)
	}
	if g.json() {
		return printValue(g.stdout, map[string]string{
			"name":       name.String(),
			"ciphertext": base64.StdEncoding.EncodeToString(ciphertext),
		})
	}
	return g.writeOutput("out", out, ciphertext)
}

// oaepHashes maps the ASYMMETRIC_DECRYPT algorithms to their OAEP hash
// (also the MGF1 hash, as Cloud KMS uses it).
var oaepHashes = map[kmspb.CryptoKeyVersion_CryptoKeyVersionAlgorithm]crypto.Hash{
	kmspb.CryptoKeyVersion_RSA_DECRYPT_OAEP_2048_SHA256: crypto.SHA256,
	kmspb.CryptoKeyVersion_RSA_DECRYPT_OAEP_3072_SHA256: crypto.SHA256,
	kmspb.CryptoKeyVersion_RSA_DECRYPT_OAEP_4096_SHA256: crypto.SHA256,
	kmspb.CryptoKeyVersion_RSA_DECRYPT_OAEP_4096_SHA512: crypto.SHA512,
	kmspb.CryptoKeyVersion_RSA_DECRYPT_OAEP_2048_SHA1:   crypto.SHA1,
	kmspb.CryptoKeyVersion_RSA_DECRYPT_OAEP_3072_SHA1:   crypto.SHA1,
	kmspb.CryptoKeyVersion_RSA_DECRYPT_OAEP_4096_SHA1:   crypto.SHA1,
}

func newDecryptCmd(g *globals) *cobra.Command {
	var (
		in, out, ivIn string
		aad           aadOptions
		raw           bool
		tagLength     int
	)
	cmd := &cobra.Command{
		Use:   "decrypt NAME",
		Short: "Decrypt data with a key",
		Long: `Decrypt the ciphertext read from --in (stdin by default) and write the raw
plaintext to --out (stdout by default; a file is created with mode 0600).

NAME is an ENCRYPT_DECRYPT key: the CLI calls POST /v1/NAME:decrypt, and the
server picks the version that encrypted the data. Give the same --aad or
--aad-file as at encryption. With --output json the DecryptResponse object is
printed instead of the raw bytes (plaintext in base64).

If NAME is a version of an ASYMMETRIC_DECRYPT key, the CLI calls
POST /v1/NAME:asymmetricDecrypt on RSA-OAEP ciphertext (see
"custos encrypt --asymmetric").

` + rawFormatHelp,
		Example: `  custos decrypt projects/p/locations/global/keyRings/app/cryptoKeys/db --in hello.enc
  custos decrypt projects/p/locations/global/keyRings/app/cryptoKeys/db --in secret.enc --out secret.txt --aad 'user=42'
  custos decrypt projects/p/locations/global/keyRings/app/cryptoKeys/raw/cryptoKeyVersions/1 --raw --in data.enc --iv data.iv
  custos decrypt projects/p/locations/global/keyRings/app/cryptoKeys/rsa/cryptoKeyVersions/1 --in key.enc`,
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			fs := cmd.Flags()
			want := []kind{kindCryptoKey, kindVersion}
			if raw {
				want = []kind{kindVersion}
			}
			name, err := parseAs(args[0], want...)
			if err != nil {
				return err
			}
			switch {
			case raw && !fs.Changed("iv"):
				return usageErrorf("--raw needs --iv FILE, the initialization vector written by encrypt --raw --iv-out")
			case !raw && (fs.Changed("iv") || fs.Changed("tag-length")):
				return usageErrorf("--iv and --tag-length need --raw")
			case !raw && name.kind == kindVersion && aad.set(cmd):
				return usageErrorf("asymmetric decryption (NAME is a version) takes no additional authenticated data")
			case tagLength < 0:
				return usageErrorf("--tag-length must not be negative")
			}
			if err := g.noOutFileWithJSON(out); err != nil {
				return err
			}
			if err := oneStdin(map[string]string{"in": in, "aad-file": aad.file, "iv": ivIn}); err != nil {
				return err
			}
			aadBytes, err := aad.read(g, cmd)
			if err != nil {
				return err
			}
			var iv []byte
			if raw {
				if iv, err = g.readInput("iv", ivIn); err != nil {
					return err
				}
			}
			return g.do(cmd, func(ctx context.Context, c *client) error {
				ciphertext, err := g.readInput("in", in)
				if err != nil {
					return err
				}
				var body, plaintext []byte
				var sum *wrapperspb.Int64Value
				switch {
				case raw:
					req := &kmspb.RawDecryptRequest{
						Ciphertext:                        ciphertext,
						AdditionalAuthenticatedData:       aadBytes,
						InitializationVector:              iv,
						TagLength:                         int32(tagLength),
						CiphertextCrc32C:                  crc32c(ciphertext),
						AdditionalAuthenticatedDataCrc32C: crc32c(aadBytes),
						InitializationVectorCrc32C:        crc32c(iv),
					}
					resp := &kmspb.RawDecryptResponse{}
					if body, err = c.call(ctx, name.path(":rawDecrypt"), req, resp); err != nil {
						return err
					}
					plaintext, sum = resp.GetPlaintext(), resp.GetPlaintextCrc32C()
				case name.kind == kindVersion:
					req := &kmspb.AsymmetricDecryptRequest{
						Ciphertext:       ciphertext,
						CiphertextCrc32C: crc32c(ciphertext),
					}
					resp := &kmspb.AsymmetricDecryptResponse{}
					if body, err = c.call(ctx, name.path(":asymmetricDecrypt"), req, resp); err != nil {
						return err
					}
					plaintext, sum = resp.GetPlaintext(), resp.GetPlaintextCrc32C()
				default:
					req := &kmspb.DecryptRequest{
						Ciphertext:                        ciphertext,
						AdditionalAuthenticatedData:       aadBytes,
						CiphertextCrc32C:                  crc32c(ciphertext),
						AdditionalAuthenticatedDataCrc32C: crc32c(aadBytes),
					}
					resp := &kmspb.DecryptResponse{}
					if body, err = c.call(ctx, name.path(":decrypt"), req, resp); err != nil {
						return err
					}
					plaintext, sum = resp.GetPlaintext(), resp.GetPlaintextCrc32C()
				}
				return g.printChecked(body, "plaintext", plaintext, sum, out)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&in, "in", "-", "read the ciphertext from `FILE` (- for stdin)")
	f.StringVar(&out, "out", "-", "write the plaintext to `FILE` (- for stdout)")
	aad.add(cmd)
	f.BoolVar(&raw, "raw", false, "use rawDecrypt (RAW_ENCRYPT_DECRYPT keys; NAME is a version)")
	f.StringVar(&ivIn, "iv", "", "with --raw, read the initialization vector from `FILE`")
	f.IntVar(&tagLength, "tag-length", 0, "with --raw, the tag length in `BYTES` (default: the algorithm's)")
	return cmd
}

func newSignCmd(g *globals) *cobra.Command {
	var in, out string
	cmd := &cobra.Command{
		Use:   "sign VERSION_NAME",
		Short: "Sign data with an asymmetric signing key version",
		Long: `Sign the data read from --in (stdin by default) with the ASYMMETRIC_SIGN
version VERSION_NAME, and write the raw signature to --out (stdout by default).

The CLI sends the data itself (POST /v1/VERSION_NAME:asymmetricSign with
"data"); the server hashes it as the algorithm says. ECDSA signatures are DER
encoded, RSA and Ed25519 signatures are raw bytes. With --output json the
AsymmetricSignResponse object is printed instead (signature in base64).
Check a signature with "custos verify".`,
		Example: `  custos sign projects/p/locations/global/keyRings/app/cryptoKeys/signer/cryptoKeyVersions/1 --in release.tar --out release.sig
  custos verify projects/p/locations/global/keyRings/app/cryptoKeys/signer/cryptoKeyVersions/1 --in release.tar --signature release.sig`,
		Args: exactArgs("VERSION_NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := parseAs(args[0], kindVersion)
			if err != nil {
				return err
			}
			if err := g.noOutFileWithJSON(out); err != nil {
				return err
			}
			return g.do(cmd, func(ctx context.Context, c *client) error {
				data, err := g.readInput("in", in)
				if err != nil {
					return err
				}
				req := &kmspb.AsymmetricSignRequest{Data: data, DataCrc32C: crc32c(data)}
				resp := &kmspb.AsymmetricSignResponse{}
				body, err := c.call(ctx, v.path(":asymmetricSign"), req, resp)
				if err != nil {
					return err
				}
				return g.printChecked(body, "signature", resp.GetSignature(), resp.GetSignatureCrc32C(), out)
			})
		},
	}
	cmd.Flags().StringVar(&in, "in", "-", "read the data from `FILE` (- for stdin)")
	cmd.Flags().StringVar(&out, "out", "-", "write the signature to `FILE` (- for stdout)")
	return cmd
}

func newVerifyCmd(g *globals) *cobra.Command {
	var in, sigFile string
	cmd := &cobra.Command{
		Use:   "verify VERSION_NAME --signature FILE",
		Short: "Verify a signature locally with a version's public key",
		Long: `Verify the signature in --signature over the data read from --in (stdin by
default). The CLI fetches the public key of VERSION_NAME
(GET /v1/VERSION_NAME/publicKey) and verifies with Go's standard library as
the version's algorithm says:

  EC_SIGN_P256_SHA256, EC_SIGN_P384_SHA384   ECDSA, DER signature
  EC_SIGN_ED25519                            Ed25519 over the data
  RSA_SIGN_PSS_*                             RSASSA-PSS, salt length = hash length
  RSA_SIGN_PKCS1_*                           RSASSA-PKCS1-v1_5
  RSA_SIGN_RAW_PKCS1_*                       PKCS#1 v1.5 padding over the data itself

The hash is the one named by the algorithm (SHA-256, SHA-384 or SHA-512).
Prints "signature valid", or fails with "signature invalid" and exit status 1.
With --output json prints {"name", "algorithm", "valid"}.`,
		Example: `  custos verify projects/p/locations/global/keyRings/app/cryptoKeys/signer/cryptoKeyVersions/1 --in release.tar --signature release.sig`,
		Args:    exactArgs("VERSION_NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := parseAs(args[0], kindVersion)
			if err != nil {
				return err
			}
			if sigFile == "" {
				return usageErrorf("--signature FILE is required")
			}
			if err := oneStdin(map[string]string{"in": in, "signature": sigFile}); err != nil {
				return err
			}
			return g.do(cmd, func(ctx context.Context, c *client) error {
				sig, err := g.readInput("signature", sigFile)
				if err != nil {
					return err
				}
				data, err := g.readInput("in", in)
				if err != nil {
					return err
				}
				pk, _, err := fetchPublicKey(ctx, c, v)
				if err != nil {
					return err
				}
				pub, err := parsePublicKey(pk)
				if err != nil {
					return err
				}
				err = verifySignature(pk.GetAlgorithm(), pub, data, sig)
				if err != nil && !errors.Is(err, errSignatureInvalid) {
					return err
				}
				if g.json() {
					if perr := printValue(g.stdout, map[string]any{
						"name":      v.String(),
						"algorithm": enumName(pk.GetAlgorithm()),
						"valid":     err == nil,
					}); perr != nil {
						return perr
					}
					return err
				}
				if err != nil {
					return err
				}
				_, err = fmt.Fprintln(g.stdout, "signature valid")
				return err
			})
		},
	}
	cmd.Flags().StringVar(&in, "in", "-", "read the signed data from `FILE` (- for stdin)")
	cmd.Flags().StringVar(&sigFile, "signature", "", "read the raw signature from `FILE` (required)")
	return cmd
}

// sigScheme says how to verify one signing algorithm.
type sigScheme struct {
	family string      // "ecdsa", "ed25519", "pss", "pkcs1", "rawpkcs1"
	hash   crypto.Hash // 0 for ed25519 and rawpkcs1
	curve  elliptic.Curve
}

// sigSchemes covers the Cloud KMS signing algorithms that Go's standard
// library can verify (not secp256k1, not the post-quantum ones).
var sigSchemes = map[kmspb.CryptoKeyVersion_CryptoKeyVersionAlgorithm]sigScheme{
	kmspb.CryptoKeyVersion_EC_SIGN_P256_SHA256:        {"ecdsa", crypto.SHA256, elliptic.P256()},
	kmspb.CryptoKeyVersion_EC_SIGN_P384_SHA384:        {"ecdsa", crypto.SHA384, elliptic.P384()},
	kmspb.CryptoKeyVersion_EC_SIGN_ED25519:            {"ed25519", 0, nil},
	kmspb.CryptoKeyVersion_RSA_SIGN_PSS_2048_SHA256:   {"pss", crypto.SHA256, nil},
	kmspb.CryptoKeyVersion_RSA_SIGN_PSS_3072_SHA256:   {"pss", crypto.SHA256, nil},
	kmspb.CryptoKeyVersion_RSA_SIGN_PSS_4096_SHA256:   {"pss", crypto.SHA256, nil},
	kmspb.CryptoKeyVersion_RSA_SIGN_PSS_4096_SHA512:   {"pss", crypto.SHA512, nil},
	kmspb.CryptoKeyVersion_RSA_SIGN_PKCS1_2048_SHA256: {"pkcs1", crypto.SHA256, nil},
	kmspb.CryptoKeyVersion_RSA_SIGN_PKCS1_3072_SHA256: {"pkcs1", crypto.SHA256, nil},
	kmspb.CryptoKeyVersion_RSA_SIGN_PKCS1_4096_SHA256: {"pkcs1", crypto.SHA256, nil},
	kmspb.CryptoKeyVersion_RSA_SIGN_PKCS1_4096_SHA512: {"pkcs1", crypto.SHA512, nil},
	kmspb.CryptoKeyVersion_RSA_SIGN_RAW_PKCS1_2048:    {"rawpkcs1", 0, nil},
	kmspb.CryptoKeyVersion_RSA_SIGN_RAW_PKCS1_3072:    {"rawpkcs1", 0, nil},
	kmspb.CryptoKeyVersion_RSA_SIGN_RAW_PKCS1_4096:    {"rawpkcs1", 0, nil},
}

// verifySignature verifies sig over data with pub as alg says. It returns
// nil for a valid signature, errSignatureInvalid for an invalid one, and
// another error when alg can't be verified here or pub doesn't fit alg.
func verifySignature(alg kmspb.CryptoKeyVersion_CryptoKeyVersionAlgorithm, pub crypto.PublicKey, data, sig []byte) error {
	s, ok := sigSchemes[alg]
	if !ok {
		if p, _ := purposeOf(alg); p == kmspb.CryptoKey_ASYMMETRIC_SIGN {
			return withHint(fmt.Errorf("verifying %s signatures locally is not supported", enumName(alg)),
				"verify with a library that implements the algorithm, using 'custos public-key'")
		}
		return fmt.Errorf("%s is not a signing algorithm", enumName(alg))
	}
	var digest []byte
	if s.hash != 0 {
		h := s.hash.New()
		h.Write(data)
		digest = h.Sum(nil)
	}
	mismatch := func() error {
		return fmt.Errorf("the public key (%T) does not fit algorithm %s", pub, enumName(alg))
	}
	valid := false
	switch s.family {
	case "ecdsa":
		k, ok := pub.(*ecdsa.PublicKey)
		if !ok || k.Curve != s.curve {
			return mismatch()
		}
		valid = ecdsa.VerifyASN1(k, digest, sig)
	case "ed25519":
		k, ok := pub.(ed25519.PublicKey)
		if !ok {
			return mismatch()
		}
		valid = ed25519.Verify(k, data, sig)
	case "pss", "pkcs1", "rawpkcs1":
		k, ok := pub.(*rsa.PublicKey)
		if !ok {
			return mismatch()
		}
		switch s.family {
		case "pss":
			valid = rsa.VerifyPSS(k, s.hash, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
		case "pkcs1":
			valid = rsa.VerifyPKCS1v15(k, s.hash, digest, sig) == nil
		default:
			valid = rsa.VerifyPKCS1v15(k, 0, data, sig) == nil
		}
	}
	if !valid {
		return errSignatureInvalid
	}
	return nil
}

func newMACCmd(g *globals) *cobra.Command {
	var in, out, verifyFile string
	cmd := &cobra.Command{
		Use:   "mac VERSION_NAME",
		Short: "Compute or verify a MAC with a MAC key version",
		Long: `Compute the MAC of the data read from --in (stdin by default) with the MAC
version VERSION_NAME (POST /v1/VERSION_NAME:macSign) and write the raw tag to
--out (stdout by default).

With --verify MAC_FILE the CLI instead asks the server to check the tag in
MAC_FILE (POST /v1/VERSION_NAME:macVerify) and prints "mac valid", or fails
with "mac invalid" and exit status 1.

With --output json the MacSignResponse or MacVerifyResponse object is printed.`,
		Example: `  custos mac projects/p/locations/global/keyRings/app/cryptoKeys/hmac/cryptoKeyVersions/1 --in msg --out msg.mac
  custos mac projects/p/locations/global/keyRings/app/cryptoKeys/hmac/cryptoKeyVersions/1 --in msg --verify msg.mac`,
		Args: exactArgs("VERSION_NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := parseAs(args[0], kindVersion)
			if err != nil {
				return err
			}
			verify := cmd.Flags().Changed("verify")
			if verify && cmd.Flags().Changed("out") {
				return usageErrorf("--out and --verify are mutually exclusive")
			}
			if verify && verifyFile == "" {
				return usageErrorf("--verify needs a MAC file")
			}
			if err := g.noOutFileWithJSON(out); err != nil {
				return err
			}
			if err := oneStdin(map[string]string{"in": in, "verify": verifyFile}); err != nil {
				return err
			}
			return g.do(cmd, func(ctx context.Context, c *client) error {
				var tag []byte
				if verify {
					if tag, err = g.readInput("verify", verifyFile); err != nil {
						return err
					}
				}
				data, err := g.readInput("in", in)
				if err != nil {
					return err
				}
				if verify {
					return g.macVerify(ctx, c, v, data, tag)
				}
				req := &kmspb.MacSignRequest{Data: data, DataCrc32C: crc32c(data)}
				resp := &kmspb.MacSignResponse{}
				body, err := c.call(ctx, v.path(":macSign"), req, resp)
				if err != nil {
					return err
				}
				return g.printChecked(body, "mac", resp.GetMac(), resp.GetMacCrc32C(), out)
			})
		},
	}
	cmd.Flags().StringVar(&in, "in", "-", "read the data from `FILE` (- for stdin)")
	cmd.Flags().StringVar(&out, "out", "-", "write the MAC to `FILE` (- for stdout)")
	cmd.Flags().StringVar(&verifyFile, "verify", "", "verify the raw MAC in `MAC_FILE` instead of computing one")
	return cmd
}

func (g *globals) macVerify(ctx context.Context, c *client, v resName, data, tag []byte) error {
	req := &kmspb.MacVerifyRequest{Data: data, DataCrc32C: crc32c(data), Mac: tag, MacCrc32C: crc32c(tag)}
	resp := &kmspb.MacVerifyResponse{}
	body, err := c.call(ctx, v.path(":macVerify"), req, resp)
	if err != nil {
		return err
	}
	if g.json() {
		if err := printJSON(g.stdout, body); err != nil {
			return err
		}
	}
	if !resp.GetSuccess() {
		return errMACInvalid
	}
	if g.json() {
		return nil
	}
	_, err = fmt.Fprintln(g.stdout, "mac valid")
	return err
}
