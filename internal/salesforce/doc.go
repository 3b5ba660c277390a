// SPDX-License-Identifier: Apache-2.0

// Package salesforce serves Salesforce Shield Platform Encryption
// cache-only keys: a key service that Salesforce calls, through a Named
// Credential, each time it needs a data encryption key (DEK) it does not
// keep, and that answers with the DEK encrypted to Salesforce's own BYOK
// certificate.
//
// # Keys
//
// A cache-only key ([Key]) ties together:
//
//   - a key identifier (kid), a random UUID that Custos generates and the
//     operator enters in Salesforce as the key's "Unique Key Identifier";
//   - one ENABLED version of an exportable RAW_ENCRYPT_DECRYPT AES_256_GCM
//     Custos key, whose 32 bytes of material are the DEK. The version is
//     fixed when the kid is made: Salesforce must get the same DEK for a
//     kid for as long as data encrypted under it exists;
//   - the BYOK certificate downloaded from Salesforce (X.509 PEM, an RSA
//     key of 2048 or 4096 bits), whose public key the DEK is encrypted to;
//   - a name, unique, for people.
//
// [Keys] stores them as signed records (kind "sfkey", named
// "salesforce/keys/KID", with an index "salesforce/names/NAME"), and only
// the built-in admin may create, read, list or delete them.
//
// # The callout
//
// [Handler] serves GET {public URL}/salesforce/v1/keys/{kid}. The caller
// authenticates with HTTP Basic: the username is the name of a Custos app,
// the password one of that app's API keys (custos_ak_...). The material
// leaves through kms.Service.ExportMaterial with the target "salesforce",
// as that app, so the app needs roles/custos.exporter on the key, and every
// fetch is in the audit log. The answer is
//
//	{"kid": "<kid>", "jwe": "<compact JWE>"}
//
// with a JWE whose protected header holds exactly alg "RSA-OAEP", enc
// "A256GCM" and kid (plus jti with replay detection): RSAES-OAEP with
// SHA-1 and MGF1 SHA-1 (JOSE's "RSA-OAEP", [RFC 7518] section 4.3) of a
// fresh 256-bit content encryption key, then AES-256-GCM of the DEK with
// the base64url protected header as additional data ([RFC 7516]).
//
// # What is verified and what is assumed
//
// Verified, from Salesforce's documentation ("Add Replay Detection for
// Cache-Only Keys", securityImplGuide security_pe_byok_cache_replay) and
// its sample key service (github.com/forcedotcom/CacheOnlyKeyWrapper,
// README "Expected Response" and "Putting it all together"):
//
//   - Salesforce calls the Named Credential's URL followed by "/" and the
//     key identifier, with GET, and (for a Named Credential with password
//     authentication) an HTTP Basic Authorization header;
//   - it expects 200 with the JSON {"kid", "jwe"} above, the JWE in compact
//     serialization, alg RSA-OAEP, enc A256GCM, kid equal to the requested
//     one, the content being the 256-bit DEK encrypted to the public key of
//     the BYOK certificate; Salesforce refuses other header parameters
//     (ILLEGAL_PARAMETERS_IN_JWE_HEADER);
//   - key identifiers are made of a-z, A-Z, 0-9, ".", "-" and "_";
//   - with replay detection on, each callout carries a RequestIdentifier
//     that includes the key identifier and a nonce for that callout (32
//     hex digits, e.g. e5ab58fd2ced013f2a46d5c8144dd439), and the service
//     must echo the nonce in the protected header as "jti":
//     {"alg":"RSA-OAEP","enc":"A256GCM","kid":"...","jti":"..."}.
//
// Assumed, because the documentation found does not say it:
//
//   - how the RequestIdentifier reaches the endpoint. The handler accepts
//     it in any of three places: an extra path segment
//     ({endpoint}/{kid}/{RequestIdentifier}), a query parameter named
//     requestIdentifier (any case), or a header RequestIdentifier; and
//     takes the nonce as its last 32 characters, which must be lowercase
//     hex digits. If it comes in several places they must agree;
//   - what Salesforce does with each error status: any answer but 200
//     fails the callout. Custos answers 401 (credentials), 404 (unknown
//     kid, or its Custos key is gone), 403 (the app may not export, the key
//     is not exportable, or the version is not ENABLED: a disabled or
//     destroyed version), 429 (quota), 400 (a malformed RequestIdentifier)
//     and 503 (storage or audit log unavailable);
//   - the order of the header's members: go-jose writes them sorted
//     (alg, enc, jti, kid), which any JSON parser reads alike.
//
// Replay detection is Salesforce's check: Custos echoes the nonce and keeps
// no list of nonces seen (a replayed request gets a JWE that only
// Salesforce's private key opens, under the old nonce, which Salesforce
// refuses).
//
// [RFC 7516]: https://www.rfc-editor.org/rfc/rfc7516
// [RFC 7518]: https://www.rfc-editor.org/rfc/rfc7518#section-4.3
package salesforce
