// Package schemas holds the built-in JSON schemas for request bodies,
// embedded so that the gateway needs no schema files at run time.
package schemas

import (
	"embed"
	"errors"
	"io/fs"
)

//go:embed *.json
var files embed.FS

// ErrUnknown is returned for a name that is not a built-in schema.
var ErrUnknown = errors.New("no built-in schema of that name")

// Lookup returns the built-in schema called name, such as
// "create_managed_session".
func Lookup(name string) ([]byte, error) {
	data, err := fs.ReadFile(files, name+".json")
	if err != nil {
		return nil, ErrUnknown
	}
	return data, nil
}

// Names lists the built-in schemas.
func Names() []string {
	entries, _ := fs.Glob(files, "*.json")
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e[:len(e)-len(".json")]
	}
	return names
}
