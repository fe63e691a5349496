package main

import "github.com/spf13/cobra"

// version is the CLI's version, set by the release build
// (-ldflags "-X main.version=v0.1.0"); "kubernaut version" and "kubernaut
// --version" print it.
var version = "dev"

func init() { extraCommands = append(extraCommands, newVersionCommand) }

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p := newPrinter(cmd.OutOrStdout())
			p.println("kubernaut", version)
			return p.done()
		},
	}
}
