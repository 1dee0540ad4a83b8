package message

import (
	"errors"
	"fmt"
)

// NotifyError is a protocol error found while parsing. Type and Data are what
// the receiver should put in the Notify payload of its error response (RFC
// 7296 §2.21, §3.10.1), for instance UNSUPPORTED_CRITICAL_PAYLOAD with the
// one-byte payload type as Data. Msg is a human explanation for logs.
type NotifyError struct {
	// Type is the error notification to send back.
	Type NotifyType
	// Data is the notification data (nil for most types).
	Data []byte
	// Msg describes what was wrong.
	Msg string
}

// Error implements error.
func (e *NotifyError) Error() string {
	return fmt.Sprintf("message: %s: %s", e.Type, e.Msg)
}

// syntaxError returns an INVALID_SYNTAX error; every malformed length, count
// or reserved value the RFC forbids ends here (RFC 7296 §3.10.1).
func syntaxError(format string, args ...any) error {
	return &NotifyError{Type: INVALID_SYNTAX, Msg: fmt.Sprintf(format, args...)}
}

// AsNotifyError returns the *NotifyError in err's chain, if any.
func AsNotifyError(err error) (*NotifyError, bool) {
	var ne *NotifyError
	ok := errors.As(err, &ne)
	return ne, ok
}

// errMarshal reports a value that cannot be encoded (a length overflowing its
// field, an address of the wrong family, …). It is a local programming error,
// never sent to a peer.
var errMarshal = errors.New("message: cannot marshal")

func marshalError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errMarshal, fmt.Sprintf(format, args...))
}
