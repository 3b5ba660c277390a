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
	"fmt"
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
		err = yaml.Unmarshal(raw, &settings)
	case ".toml":
		err = toml.Unmarshal(raw, &settings)
	case ".json":
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		err = dec.Decode(&settings)
	default:
		return fmt.Errorf("config: %s: unknown format %q (use .yaml, .toml or .json)", path, ext)
	}
	if err != nil {
		return fmt.Errorf("config: %s: %w", path, err)
	}
	return apply(path, settings, flags)
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
	for _, k := range keys {
		name := strings.ReplaceAll(k, "_", "-")
		f := flags.Lookup(name)
		if f == nil || notInFile[name] {
			problems = append(problems, fmt.Sprintf("unknown setting %q", k))
			continue
		}
		if f.Changed {
			continue // the command line wins
		}
		values, err := strings_(settings[k])
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", k, err))
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
