package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"text/template"

	"github.com/sandwire/sandwire/launch"
	"github.com/spf13/cobra"
)

// versionReport is what `sandwire version` shows, in podman version's
// shape: the client always, the server when it can be reached.
type versionReport struct {
	Client *launch.Version `json:",omitempty"`
	Server *launch.Version `json:",omitempty"`
}

// versionTemplate lays the report out as podman version does.
const versionTemplate = `{{with .Client -}}
Client:	sandwire
Version:	{{.Version}}
API Version:	{{.APIVersion}}
Go Version:	{{.GoVersion}}
{{if .GitCommit -}}Git Commit:	{{.GitCommit}}
{{end -}}
{{if .BuiltTime -}}Built:	{{.BuiltTime}}
{{end -}}
OS/Arch:	{{.OsArch}}
{{- end}}
{{- with .Server}}

Server:	Podman Engine
Version:	{{.Version}}
API Version:	{{.APIVersion}}
Go Version:	{{.GoVersion}}
{{if .GitCommit -}}Git Commit:	{{.GitCommit}}
{{end -}}
Built:	{{.BuiltTime}}
OS/Arch:	{{.OsArch}}
{{- end}}
`

func newVersionCommand(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "version [options]",
		Short: "Display the sandwire version information",
		Long: `Display the version of sandwire and, when it can be reached, of the podman
service it talks to.`,
		Example: `  sandwire version
  sandwire version --format json
  sandwire version --format '{{.Client.Version}}'`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			client := launch.ClientVersion()
			rep := versionReport{Client: &client}
			sb, err := g.sandbox()
			if err != nil {
				return err
			}
			defer sb.Close()
			if server, err := sb.ServerVersion(cmd.Context()); err == nil {
				rep.Server = &server
			} else {
				fmt.Fprintln(g.stderr, "Error:", launch.Redact(err.Error()))
			}
			return renderVersion(g, rep, format)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Change the output format to JSON or a Go template")
	return cmd
}

func renderVersion(g *globals, rep versionReport, format string) error {
	switch format {
	case "json", "{{json .}}":
		out, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintln(g.stdout, string(out))
		return nil
	case "":
		tw := tabwriter.NewWriter(g.stdout, 0, 4, 1, ' ', 0)
		if err := template.Must(template.New("version").Parse(versionTemplate)).Execute(tw, rep); err != nil {
			return err
		}
		return tw.Flush()
	}
	tmpl, err := template.New("format").Parse(format)
	if err != nil {
		return usageErr(fmt.Errorf("invalid --format %q: %w", format, err))
	}
	if err := tmpl.Execute(g.stdout, rep); err != nil {
		return err
	}
	fmt.Fprintln(g.stdout)
	return nil
}
