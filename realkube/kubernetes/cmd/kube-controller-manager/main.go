// Command kube-controller-manager is Kubernetes' own controller manager (Deployment, ReplicaSet,
// DaemonSet, StatefulSet and the rest), built from k8s.io/kubernetes as a library.
package main

import (
	"os"
	_ "time/tzdata"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

func main() {
	os.Exit(cli.Run(app.NewControllerManagerCommand()))
}
