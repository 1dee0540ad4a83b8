// Package config is the connection model of ipsecgw and every rule that
// applies to it: the IPsec connection resource (SPEC §1), its attachment to a
// transit router and the cross-account operations (SPEC §2), and the daemon
// configuration (SPEC §4).
//
// The same structs serve the connections file (YAML), the management API
// (JSON, identical snake_case keys) and the store, so a rule is written once.
//
// How the pieces are meant to be used:
//
//   - Decode strictly with [ParseFile]/[LoadFile] or [ParseDaemon]/[LoadDaemon]:
//     unknown keys, wrong types and duplicate keys are reported as [Errors]
//     naming the line and the key path. JSON callers (the API) decode with
//     encoding/json and DisallowUnknownFields.
//   - Validate with [File.Validate], [Connection.Validate] or
//     [Daemon.Validate]. Validation reports every problem at once as [Errors];
//     each [FieldError] names the field path (e.g.
//     "connections[0].bgp.tunnel_cidr") and a short rule id (e.g. "range").
//     Validation does not need defaults applied first: an omitted key is
//     validated as its §1 default.
//   - Call [Connection.ApplyDefaults] after validation, before storing or
//     using a connection, so every optional field holds its effective value.
//   - The §2 operation rules are pure functions ([ValidateModify],
//     [CanDelete], [CanAuthorize], [CanRevoke], [CanAttach]…) the API calls
//     with the facts it knows (is the connection attached, to whom).
//
// Nothing in this package touches the network or the disk except
// [LoadFile], [LoadDaemon] and [Daemon.GatewayAddress].
package config
