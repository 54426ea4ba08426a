package main

import (
	"context"
	"fmt"

	"github.com/containers/podman/v5/cmd/podman/common"
	"github.com/containers/podman/v5/pkg/bindings"
	"github.com/containers/podman/v5/pkg/bindings/containers"
	"github.com/containers/podman/v5/pkg/bindings/system"
	"github.com/containers/podman/v5/pkg/specgen"
	"github.com/containers/podman/v5/pkg/specgenutil"
	"github.com/containers/podman/v5/pkg/domain/entities"
	"go.podman.io/common/pkg/config"
)

func main() {
	ctx, err := bindings.NewConnection(context.Background(), "unix:///run/podman/podman.sock")
	fmt.Println(err)
	_ = containers.CreateWithSpec
	_ = system.Info
	s := specgen.NewSpecGenerator("x", false)
	_ = specgenutil.FillOutSpecGen
	_ = common.DefineCreateFlags
	_ = entities.ContainerCreateOptions{}
	_ = config.Default
	_, _ = ctx, s
}
