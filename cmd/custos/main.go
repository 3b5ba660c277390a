// SPDX-License-Identifier: Apache-2.0

// Command custos is the Custos key management service: "custos server" runs
// the server and every other subcommand is a client of its REST API.
package main

import (
	"os"

	"github.com/custos-kms/custos/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
