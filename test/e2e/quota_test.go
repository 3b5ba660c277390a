// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"cloud.google.com/go/kms/apiv1/kmspb"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// quotaRefill bounds the wait a quota of 2 requests per minute asks for
// once both are spent: a token comes back every 30 s.
const quotaRefill = 30 * time.Second

// TestQuotas sets request quotas on apps and projects and checks that calls
// over them are RESOURCE_EXHAUSTED with a retry delay, over REST and gRPC,
// that the admin is never throttled, and that removing a quota lifts it.
func TestQuotas(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	h := s.plainTarget()
	admin := s.grpcClient(t)
	ctx := testContext(t)

	keyOf := func(project string) string {
		return "projects/" + project + "/locations/global/keyRings/r/cryptoKeys/k"
	}
	for _, p := range []string{"quota-a", "quota-b", "quota-denied"} {
		s.adminJSON(t, "POST", "/v1/projects/"+p+"/locations/global/keyRings?keyRingId=r", "{}")
		s.adminJSON(t, "POST", "/v1/projects/"+p+"/locations/global/keyRings/r/cryptoKeys?cryptoKeyId=k", `{"purpose":"ENCRYPT_DECRYPT"}`)
	}
	apps := []string{"q-rest", "q-grpc", "q-p1", "q-p2", "q-refused"}
	tokens := map[string]string{}
	var members []string
	for _, app := range apps {
		s.mustCreateApp(t, app, "quota-a")
		_, tokens[app] = s.mustAPIKey(t, app)
		members = append(members, "app:"+app)
	}
	for _, p := range []string{"projects/quota-a", "projects/quota-b"} {
		s.mustSetPolicy(t, p, map[string][]string{"roles/cloudkms.cryptoKeyEncrypterDecrypter": members})
	}
	setQuota := func(t *testing.T, target string, rpm int) {
		t.Helper()
		got := s.adminJSON(t, "PUT", "/admin/v1/quotas/"+target, fmt.Sprintf(`{"rpm":%d}`, rpm))
		if got["target"] != target || got["rpm"] != float64(rpm) {
			t.Errorf("PUT /admin/v1/quotas/%s {rpm:%d} = %v", target, rpm, got)
		}
	}
	encryptBody := fmt.Sprintf(`{"plaintext":%q}`, base64.StdEncoding.EncodeToString([]byte("quota")))
	restEncrypt := func(t *testing.T, app, project string) httpAnswer {
		return h.call(t, "POST", "/v1/"+keyOf(project)+":encrypt", encryptBody, tokens[app])
	}
	grpcEncrypt := func(t *testing.T, app, project string) error {
		_, err := s.grpcClientAs(t, tokens[app]).Encrypt(ctx, &kmspb.EncryptRequest{Name: keyOf(project), Plaintext: []byte("quota")})
		return err
	}

	t.Run("an app over its quota is RESOURCE_EXHAUSTED over REST with Retry-After and RetryInfo", func(t *testing.T) {
		setQuota(t, "app:q-rest", 2)
		if got := s.adminJSON(t, "GET", "/admin/v1/quotas/app:q-rest", ""); got["rpm"] != float64(2) {
			t.Errorf("GET /admin/v1/quotas/app:q-rest = %v, want rpm 2", got)
		}
		for i := 1; i <= 2; i++ {
			wantAnswer(t, fmt.Sprintf("call %d of 2 allowed per minute", i), restEncrypt(t, "q-rest", "quota-a"), http.StatusOK, "")
		}
		a := restEncrypt(t, "q-rest", "quota-a")
		wantAnswer(t, "call 3 of 2 allowed per minute", a, http.StatusTooManyRequests, "RESOURCE_EXHAUSTED")
		ra, err := strconv.Atoi(a.header.Get("Retry-After"))
		if err != nil || ra < 1 || time.Duration(ra)*time.Second > quotaRefill {
			t.Errorf("Retry-After = %q, want whole seconds in [1, %v]", a.header.Get("Retry-After"), quotaRefill)
		}
		var env struct {
			Error struct {
				Details []map[string]any `json:"details"`
			} `json:"error"`
		}
		if err := json.Unmarshal(a.body, &env); err != nil {
			t.Fatal(err)
		}
		var delay string
		for _, d := range env.Error.Details {
			if d["@type"] == "type.googleapis.com/google.rpc.RetryInfo" {
				delay, _ = d["retryDelay"].(string)
			}
		}
		if d, err := time.ParseDuration(delay); err != nil || d <= 0 || d > quotaRefill {
			t.Errorf("error details = %v, want a google.rpc.RetryInfo with a retryDelay in (0, %v]", env.Error.Details, quotaRefill)
		}
		wantCode(t, "Encrypt as q-rest through the official REST client over quota", func() error {
			_, err := s.restClientAs(t, tokens["q-rest"]).Encrypt(ctx, &kmspb.EncryptRequest{Name: keyOf("quota-a"), Plaintext: []byte("quota")})
			return err
		}(), codes.ResourceExhausted)
	})

	t.Run("an app over its quota is RESOURCE_EXHAUSTED over gRPC with RetryInfo", func(t *testing.T) {
		setQuota(t, "app:q-grpc", 2)
		for i := 1; i <= 2; i++ {
			if err := grpcEncrypt(t, "q-grpc", "quota-a"); err != nil {
				t.Fatalf("call %d of 2 allowed per minute = %v", i, err)
			}
		}
		err := grpcEncrypt(t, "q-grpc", "quota-a")
		st, _ := status.FromError(err)
		if st.Code() != codes.ResourceExhausted {
			t.Fatalf("call 3 of 2 allowed per minute = %v, want RESOURCE_EXHAUSTED", err)
		}
		var ri *errdetails.RetryInfo
		for _, d := range st.Details() {
			if r, ok := d.(*errdetails.RetryInfo); ok {
				ri = r
			}
		}
		if d := ri.GetRetryDelay().AsDuration(); ri == nil || d <= 0 || d > quotaRefill {
			t.Errorf("status details = %v, want a google.rpc.RetryInfo with a delay in (0, %v]", st.Details(), quotaRefill)
		}
	})

	t.Run("a refused call spends no quota", func(t *testing.T) {
		setQuota(t, "app:q-refused", 2)
		for range 3 {
			wantAnswer(t, "Encrypt without the role", restEncrypt(t, "q-refused", "quota-denied"), http.StatusForbidden, "PERMISSION_DENIED")
		}
		for i := 1; i <= 2; i++ {
			wantAnswer(t, fmt.Sprintf("call %d of 2 allowed per minute, after 3 refused", i), restEncrypt(t, "q-refused", "quota-a"), http.StatusOK, "")
		}
	})

	t.Run("the admin is never throttled", func(t *testing.T) {
		setQuota(t, "projects/quota-a", 1)
		defer setQuota(t, "projects/quota-a", 0)
		for i := 1; i <= 5; i++ {
			if _, err := admin.Encrypt(ctx, &kmspb.EncryptRequest{Name: keyOf("quota-a"), Plaintext: []byte("quota")}); err != nil {
				t.Errorf("admin call %d on a project limited to 1 per minute = %v, want success", i, err)
			}
		}
	})

	t.Run("a project quota applies to every app on the project's resources, and only there", func(t *testing.T) {
		setQuota(t, "projects/quota-b", 2)
		wantAnswer(t, "q-p1's call 1 of the project's 2", restEncrypt(t, "q-p1", "quota-b"), http.StatusOK, "")
		wantAnswer(t, "q-p2's call 2 of the project's 2", restEncrypt(t, "q-p2", "quota-b"), http.StatusOK, "")
		wantAnswer(t, "q-p1's call 3 of the project's 2", restEncrypt(t, "q-p1", "quota-b"), http.StatusTooManyRequests, "RESOURCE_EXHAUSTED")
		if err := grpcEncrypt(t, "q-p2", "quota-b"); status.Code(err) != codes.ResourceExhausted {
			t.Errorf("q-p2's call 4 of the project's 2 over gRPC = %v, want RESOURCE_EXHAUSTED", err)
		}
		wantAnswer(t, "q-p1's call on another project", restEncrypt(t, "q-p1", "quota-a"), http.StatusOK, "")
	})

	t.Run("removing a quota lifts it", func(t *testing.T) {
		setQuota(t, "projects/quota-b", 0)
		wantAnswer(t, "q-p1's call after the project quota was removed", restEncrypt(t, "q-p1", "quota-b"), http.StatusOK, "")
		s.adminJSON(t, "DELETE", "/admin/v1/quotas/app:q-grpc", "")
		if err := grpcEncrypt(t, "q-grpc", "quota-a"); err != nil {
			t.Errorf("q-grpc's call after its quota was deleted = %v, want success", err)
		}
		if a := h.call(t, "GET", "/admin/v1/quotas/app:q-grpc", "", s.token); a.status != http.StatusNotFound {
			t.Errorf("GET /admin/v1/quotas/app:q-grpc after DELETE = %d %s, want 404", a.status, a.body)
		}
	})

	t.Run("only the admin may set quotas", func(t *testing.T) {
		a := h.call(t, "PUT", "/admin/v1/quotas/app:q-p1", `{"rpm":1000}`, tokens["q-p1"])
		wantAnswer(t, "PUT /admin/v1/quotas/app:q-p1 as an app", a, http.StatusForbidden, "PERMISSION_DENIED")
	})
}
