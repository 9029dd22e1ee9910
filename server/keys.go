package server

import (
	"encoding"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Configuration keys are derived from the yaml tags of Config, so a key
// added to Config is at once accepted in the file, checked for shape, and
// overridable from the environment.

// key is one leaf (or map) of the configuration tree.
type key struct {
	path  []string // yaml names from the root
	index []int    // reflect field index from the root
	typ   reflect.Type
}

func (k key) name() string { return strings.Join(k.path, ".") }

func (k key) env() string {
	return envPrefix + "_" + strings.ToUpper(strings.Join(k.path, "_"))
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// isLeaf reports whether values of t are written as one scalar.
func isLeaf(t reflect.Type) bool {
	return reflect.PointerTo(t).Implements(textUnmarshaler) || t.Kind() != reflect.Struct && t.Kind() != reflect.Map
}

// yamlName returns the key of a struct field, or "" if it has none.
func yamlName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" {
		return ""
	}
	return name
}

// keys lists the leaves and maps below the struct type t; it does not
// descend into maps.
func keys(t reflect.Type, path []string, index []int) []key {
	var out []key
	for i := range t.NumField() {
		f := t.Field(i)
		name := yamlName(f)
		if name == "" {
			continue
		}
		k := key{path: append(slices.Clip(path), name), index: append(slices.Clip(index), i), typ: f.Type}
		if isLeaf(f.Type) || f.Type.Kind() == reflect.Map {
			out = append(out, k)
		} else {
			out = append(out, keys(f.Type, k.path, k.index)...)
		}
	}
	return out
}

// setText sets the leaf v from its textual form.
func setText(v reflect.Value, s string) error {
	if u, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
		return u.UnmarshalText([]byte(s))
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("want an integer, got %q", s)
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(strings.TrimSpace(s), 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("want an integer from 0 to %d, got %q", uint64(1)<<v.Type().Bits()-1, s)
		}
		v.SetUint(n)
	case reflect.Slice:
		// A list in one value (an environment variable): comma-separated.
		v.Set(reflect.Zero(v.Type()))
		for item := range strings.SplitSeq(s, ",") {
			if item = strings.TrimSpace(item); item == "" {
				continue
			}
			e := reflect.New(v.Type().Elem()).Elem()
			if err := setText(e, item); err != nil {
				return err
			}
			v.Set(reflect.Append(v, e))
		}
	case reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("want true or false, got %q", s)
		}
		v.SetBool(b)
	default:
		return fmt.Errorf("cannot be set from text (%s)", v.Type())
	}
	return nil
}

// checkNode reports unknown keys and values of the wrong shape in the YAML
// tree n, which is to be decoded into a value of type t at key path.
func checkNode(n *yaml.Node, t reflect.Type, path string, problems *[]string) {
	add := func(n *yaml.Node, format string, args ...any) {
		where := path
		if where == "" {
			where = "top level"
		}
		*problems = append(*problems, fmt.Sprintf("%s: %s (line %d)", where, fmt.Sprintf(format, args...), n.Line))
	}
	join := func(k string) string {
		if path == "" {
			return k
		}
		return path + "." + k
	}
	for n.Kind == yaml.DocumentNode || n.Kind == yaml.AliasNode {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		} else if len(n.Content) == 0 {
			return
		} else {
			n = n.Content[0]
		}
	}
	if n.Kind == 0 || n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // empty document or null value: nothing to check
	}
	switch {
	case t.Kind() == reflect.Slice && !reflect.PointerTo(t).Implements(textUnmarshaler):
		if n.Kind != yaml.SequenceNode {
			add(n, "want a list, not a %s", kindName(n.Kind))
			return
		}
		for i, item := range n.Content {
			checkNode(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i), problems)
		}
	case isLeaf(t):
		if n.Kind != yaml.ScalarNode {
			add(n, "want a single value, not a %s", kindName(n.Kind))
			return
		}
		if err := setText(reflect.New(t).Elem(), n.Value); err != nil {
			add(n, "%v", err)
		}
	case t.Kind() == reflect.Map:
		if n.Kind != yaml.MappingNode {
			add(n, "want a mapping of names, not a %s", kindName(n.Kind))
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			checkNode(n.Content[i+1], t.Elem(), join(n.Content[i].Value), problems)
		}
	case t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			add(n, "want a mapping, not a %s", kindName(n.Kind))
			return
		}
		var known []string
		fields := map[string]reflect.Type{}
		for i := range t.NumField() {
			if name := yamlName(t.Field(i)); name != "" {
				known = append(known, name)
				fields[name] = t.Field(i).Type
			}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			ft, ok := fields[k.Value]
			if !ok {
				*problems = append(*problems, fmt.Sprintf("%s: unknown key (line %d; known keys here: %s)",
					join(k.Value), k.Line, strings.Join(known, ", ")))
				continue
			}
			checkNode(n.Content[i+1], ft, join(k.Value), problems)
		}
	}
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.SequenceNode:
		return "list"
	case yaml.MappingNode:
		return "mapping"
	default:
		return "value"
	}
}

// applyEnv applies the WHARF_… variables in environ to cfg. A leaf key
// a.b_c is overridden by WHARF_A_B_C; a map entry m.<name>.k by
// WHARF_M_<NAME>_K, which declares the entry if it does not exist yet
// (names are read back in lower case). A WHARF_ variable that matches no
// key is a problem.
func applyEnv(cfg *Config, environ []string) []string {
	vars := map[string]string{}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, envPrefix+"_") {
			vars[k] = v
		}
	}
	var problems []string
	root := reflect.ValueOf(cfg).Elem()
	all := keys(root.Type(), nil, nil)
	for _, k := range all {
		if k.typ.Kind() == reflect.Map && !isLeaf(k.typ) {
			continue
		}
		s, ok := vars[k.env()]
		if !ok {
			continue
		}
		delete(vars, k.env())
		if err := setText(root.FieldByIndex(k.index), s); err != nil {
			problems = append(problems, fmt.Sprintf("%s (from %s): %v", k.name(), k.env(), err))
		}
	}
	// Map entries come second, so a leaf's exact name always wins.
	for _, k := range all {
		if k.typ.Kind() != reflect.Map || isLeaf(k.typ) {
			continue
		}
		problems = append(problems, applyEnvMap(root.FieldByIndex(k.index), k, vars)...)
	}
	for _, name := range slices.Sorted(maps.Keys(vars)) {
		problems = append(problems, fmt.Sprintf("%s: unknown environment variable (it matches no configuration key)", name))
	}
	return problems
}

// applyEnvMap applies (and removes from vars) the variables that address
// entries of the map m at key k.
func applyEnvMap(m reflect.Value, k key, vars map[string]string) []string {
	prefix := k.env() + "_"
	elem := k.typ.Elem()
	var fields []key
	if isLeaf(elem) {
		fields = []key{{typ: elem}}
	} else {
		fields = keys(elem, nil, nil)
	}
	// Longest suffix first, so "_PART_SIZE" is tried before a "_SIZE".
	slices.SortFunc(fields, func(a, b key) int { return len(b.env()) - len(a.env()) })
	var problems []string
	for _, name := range slices.Sorted(maps.Keys(vars)) {
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok {
			continue
		}
		for _, f := range fields {
			suffix := "" // a map of leaves: the entry's own value
			if len(f.path) > 0 {
				suffix = "_" + strings.ToUpper(strings.Join(f.path, "_")) // "_PART_SIZE"
			}
			entry, ok := strings.CutSuffix(rest, suffix)
			if !ok || entry == "" || strings.HasSuffix(entry, "_") {
				continue
			}
			s := vars[name]
			delete(vars, name)
			entry = strings.ToLower(entry)
			if m.IsNil() {
				m.Set(reflect.MakeMap(k.typ))
			}
			v := reflect.New(elem).Elem()
			if old := m.MapIndex(reflect.ValueOf(entry)); old.IsValid() {
				v.Set(old)
			}
			keyName := k.name() + "." + entry
			if len(f.path) > 0 {
				keyName += "." + f.name()
			}
			if err := setText(v.FieldByIndex(f.index), s); err != nil {
				problems = append(problems, fmt.Sprintf("%s (from %s): %v", keyName, name, err))
			}
			m.SetMapIndex(reflect.ValueOf(entry), v)
			break
		}
	}
	return problems
}
