// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kms "cloud.google.com/go/kms/apiv1"
	"cloud.google.com/go/kms/apiv1/kmspb"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// pollTimeout bounds every wait for the scheduler.
const pollTimeout = 15 * time.Second

// poll calls f every 100 ms until it returns true or pollTimeout passes,
// and reports whether it did.
func poll(ctx context.Context, f func() bool) bool {
	deadline := time.Now().Add(pollTimeout)
	for {
		if f() {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestScheduledLifecycle runs the rotation and destruction schedules in
// seconds, on a server started with --dev-allow-short-durations.
func TestScheduledLifecycle(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--dev-allow-short-durations")
	forEachClient(t, s, "lifecycle", func(t *testing.T, c client, loc string) {
		ctx := testContext(t)
		ring, err := c.kms.CreateKeyRing(ctx, &kmspb.CreateKeyRingRequest{Parent: loc, KeyRingId: "lifecycle"})
		if err != nil {
			t.Fatalf("CreateKeyRing = %v", err)
		}
		t.Run("rotation period 2s rotates and keeps rotating", func(t *testing.T) {
			t.Parallel()
			testShortRotation(t, ctx, c.kms, ring.GetName())
		})
		t.Run("destroy scheduled 1s becomes DESTROYED", func(t *testing.T) {
			t.Parallel()
			testShortDestroy(t, ctx, c.kms, ring.GetName())
		})
	})
}

func testShortRotation(t *testing.T, ctx context.Context, c *kms.KeyManagementClient, ring string) {
	key, err := c.CreateCryptoKey(ctx, &kmspb.CreateCryptoKeyRequest{
		Parent: ring, CryptoKeyId: "rotating",
		CryptoKey: &kmspb.CryptoKey{
			Purpose:          encryptDecrypt,
			RotationSchedule: &kmspb.CryptoKey_RotationPeriod{RotationPeriod: durationpb.New(2 * time.Second)},
			NextRotationTime: timestamppb.New(time.Now().Add(time.Second)),
		},
	})
	if err != nil {
		t.Fatalf("CreateCryptoKey(rotation_period 2s) = %v, want success with --dev-allow-short-durations", err)
	}
	name := key.GetName()
	pt := []byte("before rotation")
	old, err := c.Encrypt(ctx, &kmspb.EncryptRequest{Name: name, Plaintext: pt})
	if err != nil {
		t.Fatalf("Encrypt(%s) = %v", name, err)
	}

	// waitPrimary waits until the primary is at least version n.
	waitPrimary := func(n int) *kmspb.CryptoKey {
		t.Helper()
		var last *kmspb.CryptoKey
		var lastErr error
		ok := poll(ctx, func() bool {
			last, lastErr = c.GetCryptoKey(ctx, &kmspb.GetCryptoKeyRequest{Name: name})
			if lastErr != nil {
				return false
			}
			return versionNumber(last.GetPrimary().GetName()) >= n
		})
		if !ok {
			t.Fatalf("GetCryptoKey(%s) after %v = primary %q, %v; want version %d or later (rotation_period 2s)",
				name, pollTimeout, last.GetPrimary().GetName(), lastErr, n)
		}
		return last
	}
	k2 := waitPrimary(2)
	if nrt := k2.GetNextRotationTime().AsTime(); !nrt.After(time.Now().Add(-2 * time.Second)) {
		t.Errorf("after rotation, NextRotationTime = %v, want it moved forward", nrt)
	}
	k3 := waitPrimary(3)
	if !k3.GetNextRotationTime().AsTime().After(k2.GetNextRotationTime().AsTime()) {
		t.Errorf("NextRotationTime did not move on: %v then %v", k2.GetNextRotationTime().AsTime(), k3.GetNextRotationTime().AsTime())
	}
	dec, err := c.Decrypt(ctx, &kmspb.DecryptRequest{Name: name, Ciphertext: old.GetCiphertext()})
	if err != nil {
		t.Fatalf("Decrypt(ciphertext of version 1 after rotations) = %v, want success", err)
	}
	if !bytes.Equal(dec.GetPlaintext(), pt) || dec.GetUsedPrimary() {
		t.Errorf("Decrypt(old ciphertext) = %q used primary %v, want %q and false", dec.GetPlaintext(), dec.GetUsedPrimary(), pt)
	}
}

func testShortDestroy(t *testing.T, ctx context.Context, c *kms.KeyManagementClient, ring string) {
	key, err := c.CreateCryptoKey(ctx, &kmspb.CreateCryptoKeyRequest{
		Parent: ring, CryptoKeyId: "short_lived",
		CryptoKey: &kmspb.CryptoKey{Purpose: encryptDecrypt, DestroyScheduledDuration: durationpb.New(time.Second)},
	})
	if err != nil {
		t.Fatalf("CreateCryptoKey(destroy_scheduled_duration 1s) = %v, want success with --dev-allow-short-durations", err)
	}
	if d := key.GetDestroyScheduledDuration().AsDuration(); d != time.Second {
		t.Errorf("CreateCryptoKey.DestroyScheduledDuration = %v, want 1s", d)
	}
	name := key.GetName()
	v1 := versionName(name, 1)
	enc, err := c.Encrypt(ctx, &kmspb.EncryptRequest{Name: name, Plaintext: []byte("doomed")})
	if err != nil {
		t.Fatalf("Encrypt(%s) = %v", name, err)
	}
	before := time.Now()
	v, err := c.DestroyCryptoKeyVersion(ctx, &kmspb.DestroyCryptoKeyVersionRequest{Name: v1})
	if err != nil {
		t.Fatalf("DestroyCryptoKeyVersion(%s) = %v", v1, err)
	}
	if v.GetState() != destroyScheduled {
		t.Errorf("DestroyCryptoKeyVersion(%s).State = %v, want DESTROY_SCHEDULED", v1, v.GetState())
	}
	if dt := v.GetDestroyTime().AsTime(); dt.Before(before.Add(time.Second-time.Second/2)) || dt.After(time.Now().Add(2*time.Second)) {
		t.Errorf("DestroyCryptoKeyVersion(%s).DestroyTime = %v, want about now+1s", v1, dt)
	}
	var last *kmspb.CryptoKeyVersion
	if !poll(ctx, func() bool {
		last, err = c.GetCryptoKeyVersion(ctx, &kmspb.GetCryptoKeyVersionRequest{Name: v1})
		return err == nil && last.GetState() == destroyed
	}) {
		t.Fatalf("GetCryptoKeyVersion(%s) after %v = %v, %v; want DESTROYED", v1, pollTimeout, last, err)
	}
	if last.GetDestroyEventTime() == nil || last.GetDestroyEventTime().AsTime().Before(before) {
		t.Errorf("GetCryptoKeyVersion(%s).DestroyEventTime = %v, want set, after %v", v1, last.GetDestroyEventTime(), before)
	}
	_, err = c.Decrypt(ctx, &kmspb.DecryptRequest{Name: name, Ciphertext: enc.GetCiphertext()})
	wantCode(t, "Decrypt(ciphertext of a DESTROYED version)", err, codes.FailedPrecondition)
	_, err = c.RestoreCryptoKeyVersion(ctx, &kmspb.RestoreCryptoKeyVersionRequest{Name: v1})
	wantCode(t, "RestoreCryptoKeyVersion(DESTROYED)", err, codes.FailedPrecondition)
	_, err = c.UpdateCryptoKeyVersion(ctx, &kmspb.UpdateCryptoKeyVersionRequest{
		CryptoKeyVersion: &kmspb.CryptoKeyVersion{Name: v1, State: enabled},
		UpdateMask:       fieldMask("state"),
	})
	wantCode(t, "UpdateCryptoKeyVersion(DESTROYED -> ENABLED)", err, codes.FailedPrecondition)
}

// TestShortDurationsNeedTheFlag checks that a server without
// --dev-allow-short-durations keeps the 24 h minimums.
func TestShortDurationsNeedTheFlag(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.grpcClient(t)
	ctx := testContext(t)
	ring, err := c.CreateKeyRing(ctx, &kmspb.CreateKeyRingRequest{Parent: "projects/noflag/locations/global", KeyRingId: "r"})
	if err != nil {
		t.Fatalf("CreateKeyRing = %v", err)
	}
	cases := []struct {
		name string
		key  *kmspb.CryptoKey
	}{
		{"rotation period 1s", &kmspb.CryptoKey{
			Purpose:          encryptDecrypt,
			RotationSchedule: &kmspb.CryptoKey_RotationPeriod{RotationPeriod: durationpb.New(time.Second)},
			NextRotationTime: timestamppb.New(time.Now().Add(time.Second)),
		}},
		{"rotation period 23h59m", &kmspb.CryptoKey{
			Purpose:          encryptDecrypt,
			RotationSchedule: &kmspb.CryptoKey_RotationPeriod{RotationPeriod: durationpb.New(24*time.Hour - time.Minute)},
			NextRotationTime: timestamppb.New(time.Now().Add(time.Hour)),
		}},
		{"destroy scheduled duration 1s", &kmspb.CryptoKey{Purpose: encryptDecrypt, DestroyScheduledDuration: durationpb.New(time.Second)}},
	}
	for i, tc := range cases {
		t.Run(tc.name+" is InvalidArgument", func(t *testing.T) {
			_, err := c.CreateCryptoKey(ctx, &kmspb.CreateCryptoKeyRequest{Parent: ring.GetName(), CryptoKeyId: "k" + string(rune('a'+i)), CryptoKey: tc.key})
			wantCode(t, "CreateCryptoKey("+tc.name+")", err, codes.InvalidArgument)
		})
	}
	t.Run("rotation period of exactly 24h is accepted", func(t *testing.T) {
		_, err := c.CreateCryptoKey(ctx, &kmspb.CreateCryptoKeyRequest{Parent: ring.GetName(), CryptoKeyId: "day", CryptoKey: &kmspb.CryptoKey{
			Purpose:          encryptDecrypt,
			RotationSchedule: &kmspb.CryptoKey_RotationPeriod{RotationPeriod: durationpb.New(24 * time.Hour)},
			NextRotationTime: timestamppb.New(time.Now().Add(24 * time.Hour)),
		}})
		if err != nil {
			t.Errorf("CreateCryptoKey(rotation period 24h) = %v, want success", err)
		}
	})
}

// runFailing runs the binary with args, expects it to exit non-zero within
// startTimeout, and returns its output.
func runFailing(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), startTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, custosBin, args...)
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("custos %v still running after %v, want it to exit non-zero:\n%s", args, startTimeout, out)
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() == 0 {
		t.Fatalf("custos %v = %v, want a non-zero exit:\n%s", args, err, out)
	}
	if len(bytes.TrimSpace(out)) == 0 {
		t.Errorf("custos %v exited %d without a message", args, ee.ExitCode())
	}
	return string(out)
}

func TestShortDurationsFlagNeedsDev(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out := runFailing(t, "server", "--data", dir, "--listen", freePort(t), "--grpc-listen", freePort(t), "--dev-allow-short-durations")
	if !strings.Contains(out, "--dev-allow-short-durations") {
		t.Errorf("custos server --dev-allow-short-durations (without --dev) says %q, want a message naming the flag", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "admin-token")); err == nil {
		t.Errorf("custos server that refused to start wrote %s", filepath.Join(dir, "admin-token"))
	}
}
