package message

import "strconv"

// enumString looks v up in names and falls back to "PREFIX(n)" so that an
// unknown wire value is still printable in logs.
func enumString[T ~uint8 | ~uint16](names map[T]string, prefix string, v T) string {
	if s, ok := names[v]; ok {
		return s
	}
	return prefix + "(" + strconv.Itoa(int(v)) + ")"
}

// ExchangeType is the Exchange Type field of the IKE header (RFC 7296 §3.1;
// IKEv1 values from RFC 2408 §3.1 and RFC 2409).
type ExchangeType uint8

// Exchange types.
const (
	// IKEv1 (ISAKMP) exchanges, RFC 2408 §3.1 and RFC 2409 §5.
	ExchangeIdentityProtection ExchangeType = 2  // Main Mode
	ExchangeAggressive         ExchangeType = 4  // Aggressive Mode
	ExchangeInformationalV1    ExchangeType = 5  // ISAKMP Informational
	ExchangeQuickMode          ExchangeType = 32 // IKEv1 phase 2

	// IKEv2 exchanges, RFC 7296 §3.1.
	IKE_SA_INIT     ExchangeType = 34
	IKE_AUTH        ExchangeType = 35
	CREATE_CHILD_SA ExchangeType = 36
	INFORMATIONAL   ExchangeType = 37
)

var exchangeNames = map[ExchangeType]string{
	ExchangeIdentityProtection: "ID_PROT",
	ExchangeAggressive:         "AGGRESSIVE",
	ExchangeInformationalV1:    "INFORMATIONAL_V1",
	ExchangeQuickMode:          "QUICK_MODE",
	IKE_SA_INIT:                "IKE_SA_INIT",
	IKE_AUTH:                   "IKE_AUTH",
	CREATE_CHILD_SA:            "CREATE_CHILD_SA",
	INFORMATIONAL:              "INFORMATIONAL",
}

// String returns the RFC mnemonic.
func (e ExchangeType) String() string { return enumString(exchangeNames, "EXCHANGE", e) }

// PayloadType is the Next Payload value naming a payload (RFC 7296 §3.2).
type PayloadType uint8

// IKEv2 payload types (RFC 7296 §3.2, RFC 7383 §2.5 for SKF).
const (
	PayloadNone     PayloadType = 0
	PayloadSA       PayloadType = 33
	PayloadKE       PayloadType = 34
	PayloadIDi      PayloadType = 35
	PayloadIDr      PayloadType = 36
	PayloadCERT     PayloadType = 37
	PayloadCERTREQ  PayloadType = 38
	PayloadAUTH     PayloadType = 39
	PayloadNonce    PayloadType = 40
	PayloadNotify   PayloadType = 41
	PayloadDelete   PayloadType = 42
	PayloadVendorID PayloadType = 43
	PayloadTSi      PayloadType = 44
	PayloadTSr      PayloadType = 45
	PayloadSK       PayloadType = 46
	PayloadCP       PayloadType = 47
	PayloadEAP      PayloadType = 48
	PayloadSKF      PayloadType = 53
)

var payloadNames = map[PayloadType]string{
	PayloadNone: "NONE", PayloadSA: "SA", PayloadKE: "KE", PayloadIDi: "IDi",
	PayloadIDr: "IDr", PayloadCERT: "CERT", PayloadCERTREQ: "CERTREQ",
	PayloadAUTH: "AUTH", PayloadNonce: "No", PayloadNotify: "N",
	PayloadDelete: "D", PayloadVendorID: "V", PayloadTSi: "TSi", PayloadTSr: "TSr",
	PayloadSK: "SK", PayloadCP: "CP", PayloadEAP: "EAP", PayloadSKF: "SKF",
}

// String returns the RFC 7296 §3.2 notation (SA, KE, No, N, V, …).
func (p PayloadType) String() string { return enumString(payloadNames, "PAYLOAD", p) }

// ProtocolID is the Protocol ID of a proposal, notification or delete
// (RFC 7296 §3.3.1).
type ProtocolID uint8

// Protocol IDs.
const (
	ProtocolNone ProtocolID = 0
	ProtocolIKE  ProtocolID = 1
	ProtocolAH   ProtocolID = 2
	ProtocolESP  ProtocolID = 3
)

var protocolNames = map[ProtocolID]string{ProtocolNone: "NONE", ProtocolIKE: "IKE", ProtocolAH: "AH", ProtocolESP: "ESP"}

// String returns the mnemonic.
func (p ProtocolID) String() string { return enumString(protocolNames, "PROTOCOL", p) }

// TransformType is the Transform Type of a transform substructure
// (RFC 7296 §3.3.2). Transform IDs themselves are registered in ike/ikecrypto.
type TransformType uint8

// Transform types.
const (
	TransformENCR  TransformType = 1 // encryption algorithm
	TransformPRF   TransformType = 2 // pseudorandom function
	TransformINTEG TransformType = 3 // integrity algorithm
	TransformDH    TransformType = 4 // Diffie-Hellman group
	TransformESN   TransformType = 5 // extended sequence numbers
)

var transformTypeNames = map[TransformType]string{
	TransformENCR: "ENCR", TransformPRF: "PRF", TransformINTEG: "INTEG", TransformDH: "DH", TransformESN: "ESN",
}

// String returns the mnemonic.
func (t TransformType) String() string { return enumString(transformTypeNames, "TRANSFORM", t) }

// AttributeType is a transform attribute type (RFC 7296 §3.3.5).
type AttributeType uint16

// AttributeKeyLength is the only transform attribute IKEv2 defines; it is
// always in TV form (RFC 7296 §3.3.5).
const AttributeKeyLength AttributeType = 14

// String returns the mnemonic.
func (a AttributeType) String() string {
	return enumString(map[AttributeType]string{AttributeKeyLength: "KEY_LENGTH"}, "ATTRIBUTE", a)
}

// IDType is the ID Type of an IDi/IDr payload (RFC 7296 §3.5).
type IDType uint8

// Identification types.
const (
	IDIPv4Addr   IDType = 1
	IDFQDN       IDType = 2
	IDRFC822Addr IDType = 3
	IDIPv6Addr   IDType = 5
	IDDerASN1DN  IDType = 9
	IDDerASN1GN  IDType = 10
	IDKeyID      IDType = 11
	IDNull       IDType = 13 // RFC 7619
)

var idTypeNames = map[IDType]string{
	IDIPv4Addr: "ID_IPV4_ADDR", IDFQDN: "ID_FQDN", IDRFC822Addr: "ID_RFC822_ADDR",
	IDIPv6Addr: "ID_IPV6_ADDR", IDDerASN1DN: "ID_DER_ASN1_DN", IDDerASN1GN: "ID_DER_ASN1_GN",
	IDKeyID: "ID_KEY_ID", IDNull: "ID_NULL",
}

// String returns the mnemonic.
func (t IDType) String() string { return enumString(idTypeNames, "ID", t) }

// AuthMethod is the Auth Method of an AUTH payload (RFC 7296 §3.8).
type AuthMethod uint8

// Authentication methods.
const (
	AuthRSASig      AuthMethod = 1
	AuthPSK         AuthMethod = 2 // shared key message integrity code
	AuthDSSSig      AuthMethod = 3
	AuthECDSA256    AuthMethod = 9  // RFC 4754
	AuthECDSA384    AuthMethod = 10 // RFC 4754
	AuthECDSA521    AuthMethod = 11 // RFC 4754
	AuthNull        AuthMethod = 13 // RFC 7619
	AuthDigitalSign AuthMethod = 14 // RFC 7427
)

var authNames = map[AuthMethod]string{
	AuthRSASig: "RSA_SIG", AuthPSK: "PSK", AuthDSSSig: "DSS_SIG", AuthECDSA256: "ECDSA_256",
	AuthECDSA384: "ECDSA_384", AuthECDSA521: "ECDSA_521", AuthNull: "NULL", AuthDigitalSign: "DIGITAL_SIGNATURE",
}

// String returns the mnemonic.
func (a AuthMethod) String() string { return enumString(authNames, "AUTH", a) }

// TSType is the type of a traffic selector (RFC 7296 §3.13.1).
type TSType uint8

// Traffic selector types.
const (
	TSIPv4AddrRange TSType = 7
	TSIPv6AddrRange TSType = 8
)

var tsTypeNames = map[TSType]string{TSIPv4AddrRange: "TS_IPV4_ADDR_RANGE", TSIPv6AddrRange: "TS_IPV6_ADDR_RANGE"}

// String returns the mnemonic.
func (t TSType) String() string { return enumString(tsTypeNames, "TS", t) }

// CFGType is the CFG Type of a configuration payload (RFC 7296 §3.15).
type CFGType uint8

// Configuration payload types.
const (
	CFGRequest CFGType = 1
	CFGReply   CFGType = 2
	CFGSet     CFGType = 3
	CFGAck     CFGType = 4
)

var cfgTypeNames = map[CFGType]string{CFGRequest: "CFG_REQUEST", CFGReply: "CFG_REPLY", CFGSet: "CFG_SET", CFGAck: "CFG_ACK"}

// String returns the mnemonic.
func (t CFGType) String() string { return enumString(cfgTypeNames, "CFG", t) }

// CFGAttrType is a configuration attribute type (RFC 7296 §3.15.1).
type CFGAttrType uint16

// Configuration attribute types.
const (
	CFGInternalIP4Address  CFGAttrType = 1
	CFGInternalIP4Netmask  CFGAttrType = 2
	CFGInternalIP4DNS      CFGAttrType = 3
	CFGInternalIP4NBNS     CFGAttrType = 4
	CFGInternalIP4DHCP     CFGAttrType = 6
	CFGApplicationVersion  CFGAttrType = 7
	CFGInternalIP6Address  CFGAttrType = 8
	CFGInternalIP6DNS      CFGAttrType = 10
	CFGInternalIP6DHCP     CFGAttrType = 12
	CFGInternalIP4Subnet   CFGAttrType = 13
	CFGSupportedAttributes CFGAttrType = 14
	CFGInternalIP6Subnet   CFGAttrType = 15
)

var cfgAttrNames = map[CFGAttrType]string{
	CFGInternalIP4Address: "INTERNAL_IP4_ADDRESS", CFGInternalIP4Netmask: "INTERNAL_IP4_NETMASK",
	CFGInternalIP4DNS: "INTERNAL_IP4_DNS", CFGInternalIP4NBNS: "INTERNAL_IP4_NBNS",
	CFGInternalIP4DHCP: "INTERNAL_IP4_DHCP", CFGApplicationVersion: "APPLICATION_VERSION",
	CFGInternalIP6Address: "INTERNAL_IP6_ADDRESS", CFGInternalIP6DNS: "INTERNAL_IP6_DNS",
	CFGInternalIP6DHCP: "INTERNAL_IP6_DHCP", CFGInternalIP4Subnet: "INTERNAL_IP4_SUBNET",
	CFGSupportedAttributes: "SUPPORTED_ATTRIBUTES", CFGInternalIP6Subnet: "INTERNAL_IP6_SUBNET",
}

// String returns the mnemonic.
func (t CFGAttrType) String() string { return enumString(cfgAttrNames, "CFG_ATTR", t) }
