// Command ofs is the one binary of the ofs feature store: every server,
// processor and tool is a subcommand. Run `ofs help` for the list.
package main

import "os"

func main() { os.Exit(execute(os.Args[1:], os.Stdout, os.Stderr)) }
