// Command etcd is etcd's own server (what etcd's server/main.go does), for kube-real.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
