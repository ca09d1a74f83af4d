// Command shopflow-catalog regenerates the event catalog in docs/events (see package
// internal/catalog) from the Go event types: `make catalog`, or `go generate ./docs/events`.
// Run it from anywhere in the module. It refuses, writing nothing, when an event type changed
// incompatibly at its schema version.
//
//	shopflow-catalog [-dir DIR]   (default: <module root>/docs/events)
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/shopflow/shopflow/internal/catalog"
)

func main() {
	dir := flag.String("dir", "", "catalog directory (default: the module's docs/events)")
	flag.Parse()
	if err := run(*dir); err != nil {
		fmt.Fprintln(os.Stderr, "shopflow-catalog:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	if dir == "" {
		root, err := catalog.ModuleRoot()
		if err != nil {
			return err
		}
		dir = filepath.Join(root, filepath.FromSlash(catalog.Dir))
	}
	if err := catalog.Write(catalog.Contexts(), dir); err != nil {
		return err
	}
	fmt.Println("catalog written to", dir)
	return nil
}
