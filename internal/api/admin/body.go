// SPDX-License-Identifier: Apache-2.0

package admin

import "bytes"

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
