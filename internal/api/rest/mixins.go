// SPDX-License-Identifier: Apache-2.0

package rest

import "google.golang.org/genproto/googleapis/api/annotations"

// mixinRules are the HTTP rules of the mixin services that Cloud KMS serves
// beside KeyManagementService. Their protos carry generic rules (for
// instance POST /v1/{resource=**}:getIamPolicy in google/iam/v1/iam_policy.proto)
// that each API replaces in its service config; these are Cloud KMS's, copied
// from the http.rules of google/cloud/kms/v1/cloudkms_v1.yaml in
// https://github.com/googleapis/googleapis (commit 3cb8c7445f4e). The official
// REST clients (cloud.google.com/go/kms/apiv1 and the other languages') build
// their URLs from the same file.
//
// The ekmConfig and ekmConnections bindings are kept although Custos serves
// no EkmService: the IAM server decides what those names mean, and a client
// gets its answer (say NOT_FOUND) instead of a routing 404.
// google.longrunning.Operations.GetOperation is listed there too but has no
// server in Config, so it is left out.
var mixinRules = map[string]*annotations.HttpRule{
	"google.cloud.location.Locations.GetLocation": {
		Pattern: &annotations.HttpRule_Get{Get: "/v1/{name=projects/*/locations/*}"},
	},
	"google.cloud.location.Locations.ListLocations": {
		Pattern: &annotations.HttpRule_Get{Get: "/v1/{name=projects/*}/locations"},
	},
	"google.iam.v1.IAMPolicy.GetIamPolicy": getRule(
		"/v1/{resource=projects/*/locations/*/keyRings/*}:getIamPolicy",
		"/v1/{resource=projects/*/locations/*/keyRings/*/cryptoKeys/*}:getIamPolicy",
		"/v1/{resource=projects/*/locations/*/keyRings/*/importJobs/*}:getIamPolicy",
		"/v1/{resource=projects/*/locations/*/ekmConfig}:getIamPolicy",
		"/v1/{resource=projects/*/locations/*/ekmConnections/*}:getIamPolicy",
	),
	"google.iam.v1.IAMPolicy.SetIamPolicy": postRule(
		"/v1/{resource=projects/*/locations/*/keyRings/*}:setIamPolicy",
		"/v1/{resource=projects/*/locations/*/keyRings/*/cryptoKeys/*}:setIamPolicy",
		"/v1/{resource=projects/*/locations/*/keyRings/*/importJobs/*}:setIamPolicy",
		"/v1/{resource=projects/*/locations/*/ekmConfig}:setIamPolicy",
		"/v1/{resource=projects/*/locations/*/ekmConnections/*}:setIamPolicy",
	),
	"google.iam.v1.IAMPolicy.TestIamPermissions": postRule(
		"/v1/{resource=projects/*/locations/*/keyRings/*}:testIamPermissions",
		"/v1/{resource=projects/*/locations/*/keyRings/*/cryptoKeys/*}:testIamPermissions",
		"/v1/{resource=projects/*/locations/*/keyRings/*/importJobs/*}:testIamPermissions",
		"/v1/{resource=projects/*/locations/*/ekmConfig}:testIamPermissions",
		"/v1/{resource=projects/*/locations/*/ekmConnections/*}:testIamPermissions",
	),
}

// getRule is a GET rule on the first path, with the others as
// additional_bindings.
func getRule(path string, more ...string) *annotations.HttpRule {
	r := &annotations.HttpRule{Pattern: &annotations.HttpRule_Get{Get: path}}
	for _, p := range more {
		r.AdditionalBindings = append(r.AdditionalBindings,
			&annotations.HttpRule{Pattern: &annotations.HttpRule_Get{Get: p}})
	}
	return r
}

// postRule is a POST rule with body "*" on the first path, with the others as
// additional_bindings.
func postRule(path string, more ...string) *annotations.HttpRule {
	r := &annotations.HttpRule{Pattern: &annotations.HttpRule_Post{Post: path}, Body: "*"}
	for _, p := range more {
		r.AdditionalBindings = append(r.AdditionalBindings,
			&annotations.HttpRule{Pattern: &annotations.HttpRule_Post{Post: p}, Body: "*"})
	}
	return r
}
