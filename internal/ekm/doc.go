// SPDX-License-Identifier: Apache-2.0

// Package ekm serves Google Cloud External Key Manager (Cloud EKM) calls:
// Cloud KMS wraps and unwraps its keys with a Custos key that never leaves
// Custos, and the key's owner can refuse or revoke at any moment. It is a
// thin adapter over [kms.Service.ResolveEKM] and [kms.EKMTarget], like the
// REST and gRPC adapters over the rest of the core.
//
// # Protocol
//
// Every ENCRYPT_DECRYPT key has an external key URI,
// {public URL}/ekm/v0/keys/{id}, with an unguessable id. Cloud KMS posts
// to {URI}:wrap and {URI}:unwrap the proto3 JSON of the
// google.cloud.ekms.v0 WrapRequest and UnwrapRequest messages, with a
// Google-signed OIDC ID token of the project's Cloud EKM service agent as
// its bearer token. [DecodeRequest] reads them leniently; answers are
// canonical. See docs/ekm.md for the setup on both sides.
//
// # Order of checks
//
// [Handler] checks a call in the order the Cloud EKM contract fixes:
//
//	401  the token is missing, malformed, expired, or fails verification
//	     (signature, iss, aud, exp, email_verified) — see [Verifier]
//	404  the key URI names no key, or the version the call needs (the
//	     primary for a wrap, the blob's for an unwrap) is not enabled.
//	     This comes before the identity on purpose: the id is
//	     unguessable, and Cloud KMS must tell a missing key from a refusal
//	403  the email is no app's (compared without regard to case), the app
//	     is disabled, it lacks custos.ekm.wrap or custos.ekm.unwrap on the
//	     key (roles/custos.ekmUser), or its justification policy refuses
//	     the request's access reason
//	400  the request is invalid, or the blob does not unwrap
//	429  the app's or project's quota is spent
//	503  Custos cannot decide now (storage, the audit log, Google's keys)
//	500  a true internal fault
//
// A 403 makes Cloud KMS disable the key version, so it is answered only
// for a real authorization decision; anything transient is 503. The error
// table is one function, statusOf, in errors.go.
//
// # Justifications
//
// Each app has a Key Access Justifications policy ([Policy], stored by
// [Policies]): the known reasons it allows (all, or a list), and whether a
// missing or an unknown reason is allowed. An app without one gets
// [DefaultPolicy]: every known reason, no missing or unknown one. A reason
// is known if it is one of google.cloud.kms.v1.AccessReason's values 1 to
// 11 ([KnownReasons]); see [Justification] for how a request's reason is
// classified.
//
// # Audit and metrics
//
// Every decision from the 404 check on, allowed or refused, is recorded
// through [kms.Auditor] with the method "Wrap" or "Unwrap" (which the audit
// log always records, whatever its data-access settings), the Custos key
// name, the reason as the justification, and Google's resource names, the
// key path, the app and the decision as details. If the record cannot be
// written the call fails with 503 and returns nothing. [Metrics] counts
// requests, latency and refusals by reason and app, and writes them in the
// Prometheus text format.
package ekm
