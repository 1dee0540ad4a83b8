package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/ipsecgw/ipsecgw/api"
	"github.com/ipsecgw/ipsecgw/config"
	"github.com/ipsecgw/ipsecgw/store"
)

func (a *app) validateCommand() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "validate -f FILE",
		Short: "Check a connections file offline",
		Long: `validate reads a connections file (the YAML of SPEC §4) and checks every
rule of the connection model without contacting the daemon: value ranges,
algorithm names, PSK characters, subnets versus routing mode, IKE version
versus multiple subnets, BGP tunnel CIDR and ASNs, health check, unique names.

Every problem is printed on its own line as

  FILE:LINE: connections[0].bgp.tunnel_cidr: <message> (rule)

and discouraged settings (DES, MD5, group1…) as warnings, which do not make
the file invalid.

Exit status: 0 valid, 1 invalid or unreadable, 2 usage error.`,
		Example: `  ipsecgw validate -f /etc/ipsecgw/connections.yaml`,
		Args:    exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := a.loadFile(file)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%s: %d connection(s), valid\n", file, len(f.Connections))
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "connections file (required)")
	cmd.MarkFlagRequired("file")
	return cmd
}

// loadFile decodes and validates a connections file, printing every error
// and warning; an invalid file is an exitError (1) after printing.
func (a *app) loadFile(path string) (*config.File, error) {
	f, err := config.LoadFile(path)
	if err != nil {
		var es config.Errors
		if errors.As(err, &es) {
			es = append(es, lenientErrors(path, es)...)
			a.printFieldErrors(path, es)
			return nil, &exitError{code: exitInvalid, msg: fmt.Sprintf("%s: %d error(s)", path, len(es))}
		}
		return nil, &exitError{code: exitInvalid, msg: err.Error()}
	}
	if es := f.Validate(); len(es) > 0 {
		a.printFieldErrors(path, es)
		return nil, &exitError{code: exitInvalid, msg: fmt.Sprintf("%s: %d error(s)", path, len(es))}
	}
	for i := range f.Connections {
		for _, w := range f.Connections[i].Warnings(fmt.Sprintf("connections[%d]", i)) {
			w.Line = f.Line(w.Field)
			fmt.Fprintf(a.stderr, "%swarning: %s\n", linePrefix(path, w.Line), fieldText(w))
		}
	}
	return f, nil
}

// lenientErrors finds the rule violations hidden behind schema errors.
// config.LoadFile stops at unknown keys and wrong types, but an operator
// fixing a file wants every problem at once: so decode the file again
// leniently (unknown keys ignored), validate that, and keep the errors on
// fields the schema errors did not already cover. They carry no line
// number. A file that is not YAML at all yields nothing more.
func lenientErrors(path string, schema config.Errors) config.Errors {
	for _, e := range schema {
		if e.Rule == config.RuleSyntax {
			return nil
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var f config.File
	if err := yaml.Unmarshal(raw, &f); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil
		}
	}
	var out config.Errors
	for _, e := range f.Validate() {
		covered := false
		for _, s := range schema {
			if s.Field != "" && (e.Field == s.Field || strings.HasPrefix(e.Field, s.Field+".") || strings.HasPrefix(s.Field, e.Field+".")) {
				covered = true
				break
			}
		}
		if !covered {
			e.Line = 0
			out = append(out, e)
		}
	}
	return out
}

// fieldText formats "field: message (rule)".
func fieldText(e config.FieldError) string {
	if e.Field == "" {
		return fmt.Sprintf("%s (%s)", e.Message, e.Rule)
	}
	return fmt.Sprintf("%s: %s (%s)", e.Field, e.Message, e.Rule)
}

func linePrefix(path string, line int) string {
	if line > 0 {
		return fmt.Sprintf("%s:%d: ", path, line)
	}
	return path + ": "
}

func (a *app) printFieldErrors(path string, es config.Errors) {
	for _, e := range es {
		fmt.Fprintf(a.stderr, "%s%s\n", linePrefix(path, e.Line), fieldText(e))
	}
}

func (a *app) applyCommand() *cobra.Command {
	var file string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "apply -f FILE [--dry-run]",
		Short: "Make the daemon's connections match a connections file",
		Long: `apply makes the daemon's set of connections equal to FILE. Connections are
matched by name: a name only in FILE is created, a name in both whose
effective configuration (defaults applied) differs is replaced, and a
connection on the daemon whose name is not in FILE is deleted. Nothing else
is touched; attachments and authorizations are kept.

FILE is validated first (as by 'ipsecgw validate'); an invalid file changes
nothing. The daemon enforces the operation rules (gateway type is immutable,
an attached connection cannot be deleted…); each rejection is printed with
its field path and rule, the remaining changes still go ahead, and apply
exits 1.

The plan is printed as
  + create NAME
  ~ modify NAME: psk, ike.encryption
  - delete NAME
With --dry-run only the plan is printed.

Exit status: 0 every change applied (or nothing to do), 1 invalid file or
some change rejected, 2 usage error, 3 daemon unreachable.`,
		Example: `  ipsecgw apply -f connections.yaml --dry-run
  ipsecgw apply -f connections.yaml`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := a.loadFile(file)
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			current, err := c.ListConnections(cmd.Context(), true)
			if err != nil {
				return err
			}
			plan := makePlan(f.Connections, current)
			return a.runPlan(cmd.Context(), plan, dryRun)
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "connections file (required)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the plan without changing anything")
	cmd.MarkFlagRequired("file")
	return cmd
}

// step is one change of an apply plan.
type step struct {
	op     byte // '+', '~', '-'
	name   string
	id     string
	want   *config.Connection
	fields []string
}

func (s step) String() string {
	label := s.name
	if label == "" {
		label = s.id
	}
	switch s.op {
	case '+':
		return "+ create " + label
	case '~':
		return "~ modify " + label + ": " + strings.Join(s.fields, ", ")
	}
	return "- delete " + label
}

// plan is what apply will do; unchanged counts the matched, equal ones.
type plan struct {
	steps     []step
	unchanged int
}

// makePlan matches desired and current connections by name.
func makePlan(desired []config.Connection, current []*store.Connection) plan {
	byName := make(map[string]*store.Connection, len(current))
	for _, c := range current {
		if c.Name != "" {
			byName[c.Name] = c
		}
	}
	var p plan
	seen := make(map[string]bool, len(desired))
	for i := range desired {
		want := &desired[i]
		seen[want.Name] = true
		have, ok := byName[want.Name]
		if !ok {
			p.steps = append(p.steps, step{op: '+', name: want.Name, want: want})
			continue
		}
		if config.Equivalent(want, &have.Connection, "") {
			p.unchanged++
			continue
		}
		p.steps = append(p.steps, step{op: '~', name: want.Name, id: have.ID, want: want,
			fields: diffFields(want, &have.Connection)})
	}
	for _, c := range current {
		if c.Name == "" || !seen[c.Name] {
			p.steps = append(p.steps, step{op: '-', name: c.Name, id: c.ID})
		}
	}
	return p
}

// runPlan prints and (unless dryRun) executes the plan.
func (a *app) runPlan(ctx context.Context, p plan, dryRun bool) error {
	if len(p.steps) == 0 {
		fmt.Fprintf(a.stdout, "nothing to do: %d connection(s) up to date\n", p.unchanged)
		return nil
	}
	if dryRun {
		for _, s := range p.steps {
			fmt.Fprintln(a.stdout, s)
		}
		fmt.Fprintf(a.stdout, "dry run: %d change(s) planned, %d unchanged; nothing applied\n", len(p.steps), p.unchanged)
		return nil
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	failed := 0
	for _, s := range p.steps {
		fmt.Fprintln(a.stdout, s)
		var err error
		switch s.op {
		case '+':
			_, err = c.CreateConnection(ctx, s.want)
		case '~':
			w := s.want.Clone()
			w.ID = ""
			_, err = c.ReplaceConnection(ctx, s.id, w)
		case '-':
			err = c.DeleteConnection(ctx, s.id)
		}
		if err == nil {
			continue
		}
		var ae *api.Error
		if !errors.As(err, &ae) {
			return err // unreachable daemon or transport failure: stop here
		}
		failed++
		for _, d := range ae.Details {
			fmt.Fprintf(a.stdout, "    rejected: %s\n", d)
		}
	}
	fmt.Fprintf(a.stdout, "apply: %d change(s), %d failed, %d unchanged\n", len(p.steps), failed, p.unchanged)
	if failed > 0 {
		return &exitError{code: exitInvalid, msg: fmt.Sprintf("%d change(s) rejected", failed)}
	}
	return nil
}

// diffFields lists the key paths (in struct order, JSON names) whose
// effective values differ between a and b.
func diffFields(a, b *config.Connection) []string {
	x, y := a.Clone(), b.Clone()
	x.ID, y.ID = "", ""
	x.ApplyDefaults("")
	y.ApplyDefaults("")
	var out []string
	walkDiff("", reflect.ValueOf(*x), reflect.ValueOf(*y), &out)
	return out
}

func walkDiff(prefix string, x, y reflect.Value, out *[]string) {
	for x.Kind() == reflect.Pointer {
		if x.IsNil() || y.IsNil() {
			if x.IsNil() != y.IsNil() {
				*out = append(*out, prefix)
			}
			return
		}
		x, y = x.Elem(), y.Elem()
	}
	if x.Kind() != reflect.Struct {
		if !reflect.DeepEqual(x.Interface(), y.Interface()) && !(emptySlice(x) && emptySlice(y)) {
			*out = append(*out, prefix)
		}
		return
	}
	t := x.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			name = f.Name
		}
		if prefix != "" {
			name = prefix + "." + name
		}
		walkDiff(name, x.Field(i), y.Field(i), out)
	}
}

// emptySlice treats nil and empty lists alike.
func emptySlice(v reflect.Value) bool { return v.Kind() == reflect.Slice && v.Len() == 0 }
