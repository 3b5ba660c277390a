// SPDX-License-Identifier: Apache-2.0

// Package config reads the server's configuration file. A file sets the
// same settings as the command-line flags, under the same names
// (`listen`, `tls-cert`, `ekm-audience`, ...), so that there is one list of
// settings, documented once in `custos server --help`. Flags given on the
// command line override the file.
//
// # Formats
//
// YAML (.yaml, .yml), TOML (.toml) and JSON (.json), chosen by extension.
// Values are strings, numbers, booleans, or lists for repeatable flags.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// Load reads the file at path and applies every setting to flags that the
// command line did not set. It reports every problem at once: unknown
// settings (with their names), values of the wrong kind, a flag's own
// refusal of a value.
func Load(path string, flags *pflag.FlagSet) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	settings := map[string]any{}
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".yaml", ".yml":
		err = decodeYAML(raw, &settings)
	case ".toml":
		err = toml.Unmarshal(raw, &settings)
	case ".json":
		settings, err = decodeJSON(raw)
	default:
		return fmt.Errorf("config: %s: unknown format %q (use .yaml, .toml or .json)", path, ext)
	}
	if err != nil {
		return fmt.Errorf("config: %s: %w", path, err)
	}
	return apply(path, settings, flags)
}

// decodeYAML decodes the one YAML document of raw into settings.
// yaml.Unmarshal reads the first document only: a second one that is not
// empty is refused rather than ignored.
func decodeYAML(raw []byte, settings *map[string]any) error {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(settings); err != nil {
		if err == io.EOF {
			return nil
		}
		return err
	}
	for {
		var more any
		err := dec.Decode(&more)
		switch {
		case err == io.EOF:
			return nil
		case err != nil:
			return err
		case more != nil:
			return errors.New("more than one YAML document")
		}
	}
}

// decodeJSON decodes the JSON object of raw. encoding/json keeps the last of
// two equal keys and stops after the first value; a setting given twice,
// or data after the object, is refused here, as YAML and TOML refuse them.
func decodeJSON(raw []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	settings := map[string]any{}
	if t, err := dec.Token(); err != nil {
		return nil, err
	} else if t != json.Delim('{') {
		return nil, errors.New("the file must hold a JSON object")
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k := t.(string) // object keys are strings
		if _, dup := settings[k]; dup {
			return nil, fmt.Errorf("setting %q given twice", k)
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		settings[k] = v
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON object")
	}
	return settings, nil
}

// notInFile are flags that make no sense in the file that they would read.
var notInFile = map[string]bool{"config": true, "help": true}

func apply(path string, settings map[string]any, flags *pflag.FlagSet) error {
	var problems []string
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys) // report in a stable order
	// The flags the command line set, noted before the file sets any
	// (which marks them Changed too).
	fromCommandLine := map[string]bool{}
	flags.VisitAll(func(f *pflag.Flag) { fromCommandLine[f.Name] = f.Changed })
	given := map[string]string{} // flag name -> the key that set it
	for _, k := range keys {
		name := strings.ReplaceAll(k, "_", "-")
		f := flags.Lookup(name)
		if f == nil || notInFile[name] {
			problems = append(problems, fmt.Sprintf("unknown setting %q", k))
			continue
		}
		if prev, dup := given[name]; dup {
			problems = append(problems, fmt.Sprintf("setting %q given twice (as %q and %q)", name, prev, k))
			continue
		}
		given[name] = k
		if fromCommandLine[name] {
			continue // the command line wins
		}
		values, err := strings_(settings[k])
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", k, err))
			continue
		}
		if _, repeatable := f.Value.(pflag.SliceValue); len(values) != 1 && !repeatable {
			problems = append(problems, fmt.Sprintf("%s: takes one value, not a list", k))
			continue
		}
		for _, v := range values {
			if err := flags.Set(name, v); err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", k, err))
				break
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("config: %s: %s", path, strings.Join(problems, "; "))
	}
	return nil
}

// strings_ turns a scalar or a list of scalars into flag values.
func strings_(v any) ([]string, error) {
	switch x := v.(type) {
	case []any:
		var out []string
		for _, e := range x {
			s, err := scalar(e)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	case []map[string]any, map[string]any:
		return nil, fmt.Errorf("must be a value or a list of values, not a table")
	}
	s, err := scalar(v)
	if err != nil {
		return nil, err
	}
	return []string{s}, nil
}

func scalar(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case int:
		return strconv.Itoa(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case uint64:
		return strconv.FormatUint(x, 10), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case json.Number:
		return x.String(), nil
	case nil:
		return "", fmt.Errorf("has no value")
	}
	return "", fmt.Errorf("unsupported value of type %T", v)
}
