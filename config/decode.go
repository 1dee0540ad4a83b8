package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxNodes bounds the YAML nodes visited per document, alias expansion
// included, so a small file of nested aliases cannot make decoding
// exponential.
const maxNodes = 100000

// LoadFile reads and strictly decodes a connections file. A read error is
// returned as is; decoding problems are returned as [Errors] (every unknown
// key, wrong type and duplicate key, each with line and key path). The
// result is not validated: call [File.Validate].
func LoadFile(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return ParseFile(b)
}

// ParseFile strictly decodes a connections file; see [LoadFile].
func ParseFile(b []byte) (*File, error) {
	f := &File{}
	lines, err := decodeStrict(b, f)
	if err != nil {
		return nil, err
	}
	f.lines = lines
	return f, nil
}

// LoadDaemon reads and strictly decodes a daemon configuration over the
// defaults of [DefaultDaemon]. The result is not validated: call
// [Daemon.Validate]. A missing file yields an error matching
// fs.ErrNotExist; ipsecgwd uses [DefaultDaemon] then when the path was not
// given explicitly (SPEC §4).
func LoadDaemon(path string) (*Daemon, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return ParseDaemon(b)
}

// ParseDaemon strictly decodes a daemon configuration over the defaults; an
// empty document yields the defaults.
func ParseDaemon(b []byte) (*Daemon, error) {
	d := DefaultDaemon()
	if _, err := decodeStrict(b, d); err != nil {
		return nil, err
	}
	return d, nil
}

// Decode strictly decodes one YAML or JSON document (JSON is YAML) into out,
// a pointer to any struct of this package ([Connection], [Authorization],
// [Attachment], [TransitRouter]…), with the same errors as [ParseFile]:
// every unknown key, duplicate key and wrong type as [Errors] with key path
// and line. Fields absent from the document keep their value in out. The
// API may use it for request bodies to get field paths for nested keys.
func Decode(b []byte, out any) error {
	if t := reflect.TypeOf(out); t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("config: Decode needs a pointer to a struct, got %T", out)
	}
	_, err := decodeStrict(b, out)
	return err
}

// decodeStrict decodes one YAML document into out (a pointer to a struct).
// It first walks the node tree against out's type, collecting every unknown
// key, duplicate key and type mismatch with its path and line; only a clean
// tree is decoded. It returns the line of every key path it saw.
func decodeStrict(b []byte, out any) (map[string]int, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return map[string]int{}, nil // empty document: nothing set
		}
		return nil, Errors{syntaxError(err)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, Errors{syntaxError(err)}
		}
		return nil, Errors{{Rule: RuleSyntax, Line: extra.Line,
			Message: "more than one YAML document; put everything in one document"}}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return map[string]int{}, nil
		}
		root = root.Content[0]
	}
	w := walker{lines: map[string]int{}}
	w.walk(root, reflect.TypeOf(out).Elem(), "")
	if len(w.errs) > 0 {
		return nil, w.errs
	}
	// The walk found nothing; decode for real, still with KnownFields as a
	// second line of defence. Any error here is a walker gap: keep the
	// decoder's word.
	strict := yaml.NewDecoder(bytes.NewReader(b))
	strict.KnownFields(true)
	if err := strict.Decode(out); err != nil {
		return nil, Errors{{Rule: RuleType, Message: trimYAML(err)}}
	}
	return w.lines, nil
}

// syntaxError turns a go-yaml parse error ("yaml: line 3: ...") into a
// FieldError carrying the line.
func syntaxError(err error) FieldError {
	msg := trimYAML(err)
	fe := FieldError{Rule: RuleSyntax, Message: msg}
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		num, tail, found := strings.Cut(rest, ": ")
		if n, err := strconv.Atoi(num); found && err == nil && n > 0 {
			fe.Line, fe.Message = n, tail
		}
	}
	return fe
}

// trimYAML strips the "yaml: " prefix of go-yaml errors.
func trimYAML(err error) string {
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

// walker checks a node tree against a Go type.
type walker struct {
	errs    Errors
	lines   map[string]int
	visited int
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

func (w *walker) fail(n *yaml.Node, path, rule, msg string) {
	w.errs = append(w.errs, FieldError{Field: path, Rule: rule, Message: msg, Line: n.Line})
}

// walk checks n against type t at key path.
func (w *walker) walk(n *yaml.Node, t reflect.Type, path string) {
	w.visited++
	if w.visited > maxNodes {
		if w.visited == maxNodes+1 {
			w.fail(n, path, RuleSyntax, "document too large or too many aliases")
		}
		return
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return
		}
		n = n.Alias
	}
	if path != "" {
		if _, seen := w.lines[path]; !seen {
			w.lines[path] = n.Line
		}
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // null leaves the zero value (omitted)
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		w.leaf(n, t, path)
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		w.mapping(n, t, path)
	case reflect.Map:
		// A free-form mapping (daemon zones): any key, unique, each value
		// of the element type.
		if n.Kind != yaml.MappingNode {
			w.fail(n, path, RuleType, "expected a mapping, e.g. {zone-a: 192.0.2.2}, got "+describe(n))
			return
		}
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			kp := join(path, k.Value)
			if line, dup := seen[k.Value]; dup {
				w.fail(k, kp, RuleDuplicateKey, fmt.Sprintf("key %q is already set at line %d", k.Value, line))
				continue
			}
			seen[k.Value] = k.Line
			w.lines[kp] = k.Line
			w.walk(v, t.Elem(), kp)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			w.fail(n, path, RuleType, "expected a list, e.g. [10.1.0.0/24], got "+describe(n))
			return
		}
		for i, c := range n.Content {
			w.walk(c, t.Elem(), index(path, i))
		}
	default:
		w.leaf(n, t, path)
	}
}

// mapping checks a struct: keys known, unique, and values of the right type.
func (w *walker) mapping(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind != yaml.MappingNode {
		w.fail(n, path, RuleType, "expected a mapping of keys, got "+describe(n))
		return
	}
	fields := yamlFields(t)
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			w.fail(k, path, RuleType, "keys must be plain words")
			continue
		}
		key := k.Value
		kp := join(path, key)
		if line, dup := seen[key]; dup {
			w.fail(k, kp, RuleDuplicateKey, fmt.Sprintf("key %q is already set at line %d", key, line))
			continue
		}
		seen[key] = k.Line
		f, ok := fields[key]
		if !ok {
			msg := fmt.Sprintf("unknown key %q", key)
			if s := suggest(key, fields); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			w.fail(k, kp, RuleUnknownKey, msg)
			continue
		}
		w.lines[kp] = k.Line
		w.walk(v, f.Type, kp)
	}
}

// leaf decodes a scalar on its own to find type errors with a path.
func (w *walker) leaf(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind != yaml.ScalarNode {
		w.fail(n, path, RuleType, "expected "+expect(t)+", got "+describe(n))
		return
	}
	custom := reflect.PointerTo(t).Implements(unmarshalerType)
	switch {
	case custom:
	case t.Kind() == reflect.String:
		return // any scalar reads as its source text
	case t.Kind() == reflect.Bool && n.ShortTag() != "!!bool",
		isIntKind(t.Kind()) && n.ShortTag() != "!!int":
		// go-yaml would truncate 1.5 to 1 and read "on" as true; a
		// configuration must say what it means.
		w.fail(n, path, RuleType, "expected "+expect(t)+", got "+describe(n))
		return
	}
	v := reflect.New(t)
	if err := n.Decode(v.Interface()); err != nil {
		msg := "expected " + expect(t) + ", got " + describe(n)
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			msg = strings.TrimPrefix(err.Error(), "config: ")
		}
		w.fail(n, path, RuleType, msg)
	}
}

// yamlFields maps yaml key names to struct fields.
func yamlFields(t reflect.Type) map[string]reflect.StructField {
	m := map[string]reflect.StructField{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = f
	}
	return m
}

// expect names what a Go type wants, in user words.
func expect(t reflect.Type) string {
	if t == reflect.TypeFor[ASN]() {
		return "an ASN (a number or \"HIGH.LOW\")"
	}
	switch {
	case t.Kind() == reflect.Bool:
		return "true or false"
	case isIntKind(t.Kind()):
		return "a whole number"
	case t.Kind() == reflect.String:
		return "a text value"
	}
	return "a " + t.Kind().String()
}

func isIntKind(k reflect.Kind) bool {
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}

// describe names what a node holds, in user words.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		v := n.Value
		if len(v) > 40 {
			v = v[:40] + "…"
		}
		return fmt.Sprintf("%q", v)
	}
	return "nothing"
}

// suggest returns the known key closest to key (edit distance ≤ 3), or "".
func suggest(key string, fields map[string]reflect.StructField) string {
	best, bestD := "", 4
	for k := range fields {
		if d := editDistance(key, k); d < bestD || d == bestD && k < best {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of two short strings.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Line returns the source line of a key path read by [ParseFile] (the
// nearest enclosing key when the path itself was not in the file), or 0.
func (f *File) Line(path string) int {
	for path != "" {
		if l, ok := f.lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return 0
		}
		path = path[:i]
	}
	return 0
}
