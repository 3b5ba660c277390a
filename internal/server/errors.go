// SPDX-License-Identifier: Apache-2.0

package server

import "github.com/custos-kms/custos/internal/kmserr"

func invalidQuery(param, value string) error {
	return kmserr.InvalidArgument(param, "must be true or false, not %q", value)
}
