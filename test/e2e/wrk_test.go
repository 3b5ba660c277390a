// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"context"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// wrkScript POSTs the Encrypt body and counts, in every wrk thread, the
// answers that are not a 200 carrying a ciphertext; done prints the totals
// and wrk's own socket errors for the test to read.
const wrkScript = `
wrk.method = "POST"
wrk.body = BODY
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. TOKEN

local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) ok = 0; bad = 0 end
function response(status, headers, body)
  if status == 200 and string.find(body, '"ciphertext"', 1, true) then ok = ok + 1 else bad = bad + 1 end
end
function done(summary, latency, requests)
  local good, wrong = 0, 0
  for _, t in ipairs(threads) do good = good + t:get("ok"); wrong = wrong + t:get("bad") end
  local e = summary.errors
  io.write(string.format("custos-wrk ok=%d bad=%d connect=%d read=%d write=%d status=%d timeout=%d\n",
    good, wrong, e.connect, e.read, e.write, e.status, e.timeout))
end
`

// TestWrkEncrypt is the contract of the benchmarks issue, with wrk itself:
// "wrk -t2 -c32 -d5s" POSTing {"plaintext":"<32 bytes, base64>"} to the
// REST Encrypt path with the dev admin token sees only 200s.
func TestWrkEncrypt(t *testing.T) {
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		t.Fatalf("TestWrkEncrypt needs wrk on PATH (scripts/test installs it; on Debian: apt-get install wrk): %v", err)
	}
	s := startServer(t)
	const ring = "/v1/projects/wrk/locations/global/keyRings/r"
	s.do(t, restCall{method: "POST", path: "/v1/projects/wrk/locations/global/keyRings?keyRingId=r"}).wantOK(t, restCall{})
	s.do(t, restCall{method: "POST", path: ring + "/cryptoKeys?cryptoKeyId=k", body: `{"purpose":"ENCRYPT_DECRYPT"}`}).wantOK(t, restCall{})

	body := `{"plaintext":"` + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef")) + `"}`
	script := filepath.Join(t.TempDir(), "encrypt.lua")
	lua := strings.NewReplacer("BODY", strconv.Quote(body), "TOKEN", strconv.Quote(s.token)).Replace(wrkScript)
	if err := os.WriteFile(script, []byte(lua), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	url := "http://" + s.restAddr + ring + "/cryptoKeys/k:encrypt"
	out, err := exec.CommandContext(ctx, wrk, "-t2", "-c32", "-d5s", "-s", script, url).CombinedOutput()
	if err != nil {
		t.Fatalf("wrk: %v\n%s", err, out)
	}
	t.Logf("wrk -t2 -c32 -d5s:\n%s", out)
	m := regexp.MustCompile(`custos-wrk ok=(\d+) bad=(\d+) connect=(\d+) read=(\d+) write=(\d+) status=(\d+) timeout=(\d+)`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("wrk printed no totals:\n%s", out)
	}
	n := make([]int, len(m))
	for i := 1; i < len(m); i++ {
		n[i], _ = strconv.Atoi(m[i])
	}
	if n[1] == 0 {
		t.Errorf("wrk saw no 200 answer with a ciphertext")
	}
	if n[2] != 0 || n[3]+n[4]+n[5]+n[6]+n[7] != 0 || strings.Contains(string(out), "Non-2xx") {
		t.Errorf("wrk saw %d answers that are not a 200 with a ciphertext, and socket errors connect %d, read %d, write %d, status %d, timeout %d", n[2], n[3], n[4], n[5], n[6], n[7])
	}
}
