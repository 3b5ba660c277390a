// SPDX-License-Identifier: Apache-2.0

// Package rest serves the Cloud KMS v1 REST/JSON surface by translating each
// HTTP request into the kmspb request message and calling a gRPC server
// implementation in process: the grpc-gateway shape, written by hand and
// without generated code.
//
// # Routing
//
// Routes are not written here: they are read at start-up from the
// google.api.http options that Google embeds in the Cloud KMS protos
// (kmspb.File_google_cloud_kms_v1_service_proto), and for the IAM and
// Locations mixins, which carry no rule of their own for Cloud KMS, from the
// table in mixins.go, copied from Cloud KMS's service config. Each rule's
// path template follows the grammar of [google/api/http.proto]: "*" binds one
// segment, "**" one or more, "{field=pattern}" binds the segments matched by
// pattern to a request field, and ":verb" ends the last segment. Templates
// are compiled once by [New], which refuses a table where two rules of the
// same HTTP method could match the same path, so that a request has at most
// one route and the order of the table never matters.
//
// # Decoding
//
// A request message is filled in three steps, in this order:
// the body (the whole message for body "*", one field for body "field", or
// nothing), then the path variables (which win over the body, so that the
// resource the caller named in the URL is the one that is authorized and
// acted on), then the query parameters, each of which sets one field that
// neither the path nor the body binds. JSON follows the proto3 JSON mapping
// (protojson), unknown fields are refused. System parameters such as
// $alt=json;enum-encoding=int, which the official REST clients send on every
// call, are understood or ignored as Google's front end does; see
// [Config.ExtraQuery] for Custos extension parameters. Responses are compact
// unless prettyPrint=true: Google's front end indents by default, which no
// client needs and which costs time on the hot path.
//
// # Calling
//
// Every method goes through one generic path: the grpc.MethodDesc handler of
// the service (kmspb.KeyManagementService_ServiceDesc,
// iampb.IAMPolicy_ServiceDesc), given a decode function that fills the
// concrete request. genproto keeps the ServiceDesc of Locations unexported,
// so New builds the same handler for it by reflection, once. No method has
// code of its own.
//
// # Errors
//
// Every failure, routing included, is written as Google's JSON error envelope
// {"error":{"code","message","status","details"}}, with the HTTP status that
// google/rpc/code.proto gives the gRPC code ([HTTPStatus], [WriteError]). An
// unknown URL is 404 NOT_FOUND, as at Google's front end. A known path with
// another HTTP method is 405 with an Allow header and status UNIMPLEMENTED
// (grpc-gateway's choice): the one answer whose HTTP status is not that of
// its code, because 405 tells a client exactly what it did wrong. Errors
// that carry no gRPC status are INTERNAL with a generic message.
//
// # Cost
//
// Routing, path variables, system parameters and the call itself allocate
// nothing per request beyond the request message that the generated handler
// makes: templates are compiled at start-up, the request path is split on
// the stack, and the per-call state and byte buffers are pooled. What
// remains is protojson's own decoding and encoding (BenchmarkEncrypt).
//
// [google/api/http.proto]: https://github.com/googleapis/googleapis/blob/master/google/api/http.proto
package rest
