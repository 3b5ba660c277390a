// SPDX-License-Identifier: Apache-2.0

package integrity

import (
	"context"

	"github.com/custos-kms/custos/internal/keystore"
)

// ScanScheduled is a scan at the pace of the scans Run starts.
func ScanScheduled(ctx context.Context, st Source, ks *keystore.Keystore) (Report, error) {
	return scan(ctx, st, ks, scheduledIdle)
}
