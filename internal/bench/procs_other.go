// SPDX-License-Identifier: Apache-2.0

//go:build !linux

package bench

import "syscall"

// childAttr is empty where the kernel cannot tie a child's life to its
// parent's; the bench still stops its children on every return path.
func childAttr() *syscall.SysProcAttr { return nil }
