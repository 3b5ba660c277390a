// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cloud.google.com/go/kms/apiv1/kmspb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestOneServerPerDataFolder: a second server on a data folder in use is
// refused with a clear error, and leaves the first one's admin token file
// and service alone; once the first has stopped, a server starts there.
func TestOneServerPerDataFolder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s1 := startServerIn(t, dir)
	out := runFailing(t, "server", "--dev", "--data", dir, "--listen", freePort(t), "--grpc-listen", freePort(t))
	if !strings.Contains(out, "custos: error:") || !strings.Contains(out, "is in use by process") {
		t.Fatalf("a second server on the data folder said:\n%s", out)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "admin-token")); err != nil || strings.TrimSpace(string(b)) != s1.token {
		t.Fatalf("the first server's admin token file after the refused start: %q, %v", b, err)
	}
	_, err := s1.grpcClient(t).GetKeyRing(testContext(t), &kmspb.GetKeyRingRequest{Name: "projects/lock/locations/global/keyRings/none"})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("the first server, after the refused start: GetKeyRing = %v, want NOT_FOUND", err)
	}
	if err := s1.stop(t); err != nil {
		t.Fatalf("custos after SIGTERM exited with %v", err)
	}
	startServerIn(t, dir)
}
