package config

// Validate checks c against every rule of SPEC §1; prefix is the key path
// of c ("connections[0]", or "" for an API request body). Omitted keys are
// validated as their defaults, so defaults need not be applied first.
func (c *Connection) Validate(prefix string) Errors {
	var es Errors
	validName(&es, join(prefix, "name"), c.Name)
	return es
}

// Validate checks every connection and that names are non-empty and unique
// within the file (apply matches connections by name). Errors carry the line
// of the key when the file came from [ParseFile].
func (f *File) Validate() Errors {
	var es Errors
	for i := range f.Connections {
		es = append(es, f.Connections[i].Validate(index("connections", i))...)
	}
	return es
}

// Warnings lists allowed but discouraged settings of c (weak or slow
// algorithms, ignored keys); they never make a connection invalid.
func (c *Connection) Warnings(prefix string) []FieldError { return nil }

// validName checks a free-text name: at most 100 characters.
func validName(es *Errors, field, v string) {}
