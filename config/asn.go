package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ASN is a 4-octet BGP autonomous system number (RFC 6793), 1–4294967295.
// It decodes from a plain number (65001) or from the asdot string
// "HIGH.LOW" (RFC 5396: "123.456" = 123×65536+456 = 8061384), and always
// encodes as a plain number. The zero value means "omitted".
type ASN uint32

// MaxASN is the largest 4-octet ASN.
const MaxASN = 4294967295

// errASNSyntax is wrapped by every [ParseASN] error.
var errASNSyntax = errors.New("must be a number 1–4294967295 or asdot HIGH.LOW with HIGH and LOW 0–65535")

// ParseASN parses a plain ("65001") or asdot ("123.456") ASN. Zero and
// values above 4294967295 are errors.
func ParseASN(s string) (ASN, error) {
	s = strings.TrimSpace(s)
	if high, low, dot := strings.Cut(s, "."); dot {
		h, err1 := parseDecimal(high, 0xffff)
		l, err2 := parseDecimal(low, 0xffff)
		if err1 != nil || err2 != nil {
			return 0, fmt.Errorf("config: ASN %q: %w", s, errASNSyntax)
		}
		v := h<<16 | l
		if v == 0 {
			return 0, fmt.Errorf("config: ASN %q: %w", s, errASNSyntax)
		}
		return ASN(v), nil
	}
	v, err := parseDecimal(s, MaxASN)
	if err != nil || v == 0 {
		return 0, fmt.Errorf("config: ASN %q: %w", s, errASNSyntax)
	}
	return ASN(v), nil
}

// parseDecimal accepts only ASCII digits (no sign, no spaces, no hex) and
// values up to max.
func parseDecimal(s string, max uint64) (uint64, error) {
	if s == "" || len(s) > 10 {
		return 0, errASNSyntax
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errASNSyntax
		}
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v > max {
		return 0, errASNSyntax
	}
	return v, nil
}

// String returns the plain decimal form.
func (a ASN) String() string { return strconv.FormatUint(uint64(a), 10) }

// AsDot returns the asdot form "HIGH.LOW" for 4-octet ASNs and the plain
// form below 65536 (RFC 5396 §2).
func (a ASN) AsDot() string {
	if a < 65536 {
		return a.String()
	}
	return strconv.FormatUint(uint64(a>>16), 10) + "." + strconv.FormatUint(uint64(a&0xffff), 10)
}

// UnmarshalYAML accepts an integer or an asdot scalar. The scalar's source
// text is used, so an unquoted 123.456 (a YAML float) is read as asdot.
func (a *ASN) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("config: ASN: expected a number or \"HIGH.LOW\" string")
	}
	if n.Tag == "!!null" {
		*a = 0
		return nil
	}
	v, err := ParseASN(n.Value)
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// MarshalYAML encodes a as a plain integer.
func (a ASN) MarshalYAML() (any, error) { return uint64(a), nil }

// UnmarshalJSON accepts a JSON integer, an asdot string ("123.456") or a
// plain number string ("65001"); null leaves 0 (omitted).
func (a *ASN) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		*a = 0
		return nil
	}
	if strings.HasPrefix(s, `"`) {
		u, err := strconv.Unquote(s)
		if err != nil {
			return fmt.Errorf("config: ASN %s: %w", s, errASNSyntax)
		}
		s = u
	} else if strings.Contains(s, ".") {
		// A JSON number with a fraction loses the asdot text (1.10 == 1.1),
		// so asdot must be a string in JSON.
		return fmt.Errorf("config: ASN %s: asdot must be a JSON string, e.g. \"123.456\"", s)
	}
	v, err := ParseASN(s)
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// MarshalJSON encodes a as a plain JSON integer.
func (a ASN) MarshalJSON() ([]byte, error) { return []byte(a.String()), nil }
