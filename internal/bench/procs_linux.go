// SPDX-License-Identifier: Apache-2.0

package bench

import "syscall"

// childAttr makes a child process receive SIGTERM if the bench dies, so
// that no server or echo outlives it.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
