// Command sluice is the sluice server and client. Everything is in package
// cli; this is only the entry point.
package main

import (
	"os"

	"github.com/sluicehq/sluice/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:])) }
