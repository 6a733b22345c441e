package planner_test

import (
	"context"
	"fmt"

	"stack/planner"
	"stack/spec"
)

// Build is called twice by `stack up`: once to learn which images the
// project needs (their IDs are not known yet, so the plan is not final),
// and again, once the images are ensured, with their IDs, which go into
// every container's config hash.
func ExampleBuild() {
	project, err := spec.Load(context.Background(), spec.Options{
		WorkingDir:  "../testdata/planner/single",
		ProjectName: "demo",
		Interpolate: true,
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	plan, err := planner.Build(project, planner.Inputs{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("to ensure:", plan.MissingImages())

	// here the reconciler builds, pulls or finds the images
	ids := map[string]string{"busybox:latest": "sha256:3f57d9401f8d42f986df300f0c69192fc41da28ccc8d797829467780db3dd741"}
	plan, err = planner.Build(project, planner.Inputs{ImageIDs: ids})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(plan)

	web := plan.Containers("web")[0]
	fmt.Println(web.Name, web.Labels[planner.LabelService], web.Labels[planner.LabelContainerNumber])
	for _, e := range plan.Dependencies(web.ID) {
		fmt.Println(e.Why, e.To)
	}
	// Output:
	// to ensure: [busybox:latest]
	// image:busybox:latest id=3f57d9401f8d
	// network:default demo_default hash=0bc9a729aefb
	// container:web:1 demo-web-1 hash=293cb1cb8fbc <- image:busybox:latest, network:default
	// demo-web-1 web 1
	// needs_image image:busybox:latest
	// needs_network network:default
}
