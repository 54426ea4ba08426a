// Command sandwire wires containers into a sandbox's host services (egress
// firewall, vault token broker, SSH signer, git gate) and creates them
// through the podman REST API.
package main

import "os"

func main() {
	os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
