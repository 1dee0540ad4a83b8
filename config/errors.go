package config

import (
	"strconv"
	"strings"
)

// Rule ids carried by [FieldError.Rule]: short, stable, machine-readable.
// The API returns them as {"field", "rule", "message"}.
const (
	RuleRequired     = "required"            // a required value is missing
	RuleLength       = "length"              // text too long or too short
	RuleRange        = "range"               // number outside its range
	RuleOneOf        = "one_of"              // value not in the allowed set
	RuleIP           = "ip"                  // not a usable IP address
	RuleCIDR         = "cidr"                // not a CIDR
	RuleHostBits     = "host_bits"           // CIDR with host bits set (10.1.0.1/24)
	RuleCharset      = "charset"             // character outside the allowed set
	RuleIdentity     = "identity"            // not an IP address or FQDN
	RuleNotAllowed   = "not_allowed"         // key not allowed in this context
	RuleIKEv2        = "ikev2_required"      // multiple subnets need IKEv2
	RuleAEADAuth     = "aead_authentication" // authentication set with an AEAD cipher
	RuleIKEv1AEAD    = "ikev1_aead"          // AEAD cipher for IKEv1 phase 1
	RuleReserved     = "reserved"            // reserved value (ASN 45104, reserved /30)
	RulePrefixLength = "prefix_length"       // wrong prefix length (/30 expected)
	RuleInside       = "inside"              // address/prefix outside its container
	RuleDuplicate    = "duplicate"           // duplicate list entry
	RuleOverlap      = "overlap"             // local and remote subnets overlap
	RuleUnique       = "unique"              // name used twice in a file
	RuleImmutable    = "immutable"           // field may not change (SPEC §2)
	RuleAttached     = "attached"            // operation needs an unattached connection
	RuleNotAttached  = "not_attached"        // operation needs an attached connection
	RuleUnauthorized = "unauthorized"        // cross-account attach without grant
	RuleUnsupported  = "unsupported"         // recognised but not implemented
	RuleFormat       = "format"              // malformed value (URL, address:port…)
	RuleSyntax       = "syntax"              // YAML syntax error
	RuleUnknownKey   = "unknown_key"         // key not in the schema
	RuleDuplicateKey = "duplicate_key"       // key given twice in one mapping
	RuleType         = "type"                // value of the wrong type
	RuleWeak         = "weak"                // warning: weak algorithm
	RuleDiscouraged  = "discouraged"         // warning: allowed but discouraged
	RuleIgnored      = "ignored"             // warning: value has no effect
)

// FieldError is one violated rule: which field, which rule, and what to do
// about it in the user's words.
type FieldError struct {
	// Field is the key path, e.g. "connections[0].bgp.tunnel_cidr"; empty
	// for errors about the whole document.
	Field string `json:"field"`
	// Rule is a short machine id, one of the Rule constants.
	Rule string `json:"rule"`
	// Message explains what is wrong and what to write instead.
	Message string `json:"message"`
	// Line is the 1-based line in the YAML source when known, else 0.
	Line int `json:"line,omitempty"`
}

// Text formats e without the package prefix:
// "line 7: connections[0].psk: <message> (charset)".
func (e FieldError) Text() string {
	var b strings.Builder
	if e.Line > 0 {
		b.WriteString("line ")
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	if e.Rule != "" {
		b.WriteString(" (")
		b.WriteString(e.Rule)
		b.WriteString(")")
	}
	return b.String()
}

// Error implements error.
func (e FieldError) Error() string { return "config: " + e.Text() }

// Errors is every violated rule of one validation, in field order. A nil or
// empty Errors means valid; use [Errors.Err] to get a nil error then.
type Errors []FieldError

// Error joins all errors with "; ".
func (es Errors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Text()
	}
	return "config: " + strings.Join(parts, "; ")
}

// Err returns es as an error, or nil when es is empty (avoiding a non-nil
// interface holding an empty slice).
func (es Errors) Err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

// Has reports whether es contains an error for field with rule.
func (es Errors) Has(field, rule string) bool {
	for _, e := range es {
		if e.Field == field && e.Rule == rule {
			return true
		}
	}
	return false
}

// add appends an error.
func (es *Errors) add(field, rule, msg string) {
	*es = append(*es, FieldError{Field: field, Rule: rule, Message: msg})
}

// join builds a key path: join("connections[0]", "ike") is
// "connections[0].ike"; an empty prefix yields the key alone.
func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// index builds "prefix[i]".
func index(prefix string, i int) string {
	return prefix + "[" + strconv.Itoa(i) + "]"
}
