// SPDX-License-Identifier: Apache-2.0

package bench_test

import (
	"os"
	"testing"

	"github.com/custos-kms/custos/internal/cli"
)

// asCustos makes the test binary run as the custos command, so that the
// bench can start it as its server and echo child processes. (Not a
// CUSTOS_* variable: the bench strips those from its children.)
const asCustos = "BENCH_TEST_RUN_AS_CUSTOS"

func TestMain(m *testing.M) {
	if os.Getenv(asCustos) == "1" {
		os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}
