package message

import "fmt"

// IKEv1 (ISAKMP, RFC 2408; IKE, RFC 2409; IPsec DOI, RFC 2407) shares the
// header layout of IKEv2 and its payload type numbers do not collide with
// IKEv2's (1–21 and 128–255 against 33–53), so the same PayloadType, Payload
// interface and Header serve both; the v1 payload structs carry a V1 suffix.

// IKEv1 payload types (RFC 2408 §3.1, RFC 3947 §3 for NAT-T, draft-ietf-
// ipsec-nat-t-ike-02 private values, and the IKEv1 fragmentation payload of
// Cisco and strongSwan).
const (
	PayloadV1SA         PayloadType = 1
	PayloadV1Proposal   PayloadType = 2 // only inside an SA payload
	PayloadV1Transform  PayloadType = 3 // only inside a Proposal
	PayloadV1KE         PayloadType = 4
	PayloadV1ID         PayloadType = 5
	PayloadV1CERT       PayloadType = 6
	PayloadV1CR         PayloadType = 7
	PayloadV1HASH       PayloadType = 8
	PayloadV1SIG        PayloadType = 9
	PayloadV1Nonce      PayloadType = 10
	PayloadV1Notify     PayloadType = 11
	PayloadV1Delete     PayloadType = 12
	PayloadV1VendorID   PayloadType = 13
	PayloadV1NATD       PayloadType = 20  // RFC 3947
	PayloadV1NATOA      PayloadType = 21  // RFC 3947
	PayloadV1NATDDraft  PayloadType = 130 // draft-ietf-ipsec-nat-t-ike-02/03
	PayloadV1NATOADraft PayloadType = 131 // draft-ietf-ipsec-nat-t-ike-02/03
	PayloadV1Fragment   PayloadType = 132 // IKEv1 fragmentation (Cisco, strongSwan)
)

func init() {
	for t, n := range map[PayloadType]string{
		PayloadV1SA: "V1_SA", PayloadV1Proposal: "V1_P", PayloadV1Transform: "V1_T", PayloadV1KE: "V1_KE",
		PayloadV1ID: "V1_ID", PayloadV1CERT: "V1_CERT", PayloadV1CR: "V1_CR", PayloadV1HASH: "V1_HASH",
		PayloadV1SIG: "V1_SIG", PayloadV1Nonce: "V1_No", PayloadV1Notify: "V1_N", PayloadV1Delete: "V1_D",
		PayloadV1VendorID: "V1_V", PayloadV1NATD: "V1_NAT-D", PayloadV1NATOA: "V1_NAT-OA",
		PayloadV1NATDDraft: "V1_NAT-D(draft)", PayloadV1NATOADraft: "V1_NAT-OA(draft)", PayloadV1Fragment: "V1_FRAG",
	} {
		payloadNames[t] = n
	}
}

// IKEv1 header flags (RFC 2408 §3.1). They occupy the bits IKEv2 leaves
// reserved.
const (
	FlagV1Encryption Flags = 0x01 // E: payloads after the header are encrypted
	FlagV1Commit     Flags = 0x02 // C: commit bit
	FlagV1AuthOnly   Flags = 0x04 // A: authentication only
)

// ProtocolIPCOMP is the IPComp protocol ID of the IPsec DOI (RFC 2407 §4.4.1).
// ProtocolIKE (1) is PROTO_ISAKMP in IKEv1.
const ProtocolIPCOMP ProtocolID = 4

// DOIIPsec is the IPsec Domain of Interpretation (RFC 2407 §4.2), the only
// one IKEv1 uses.
const DOIIPsec uint32 = 1

// SituationIdentityOnly is SIT_IDENTITY_ONLY (RFC 2407 §4.2.1).
const SituationIdentityOnly uint32 = 1

// Phase 1 (ISAKMP SA) attribute types, RFC 2409 Appendix A.
const (
	AttrV1EncryptionAlgorithm AttributeType = 1
	AttrV1HashAlgorithm       AttributeType = 2
	AttrV1AuthMethod          AttributeType = 3
	AttrV1GroupDescription    AttributeType = 4
	AttrV1GroupType           AttributeType = 5
	AttrV1LifeType            AttributeType = 11
	AttrV1LifeDuration        AttributeType = 12
	AttrV1PRF                 AttributeType = 13
	AttrV1KeyLength           AttributeType = 14
)

// Phase 2 (IPsec SA) attribute types, RFC 2407 §4.5.
const (
	AttrIPsecSALifeType       AttributeType = 1
	AttrIPsecSALifeDuration   AttributeType = 2
	AttrIPsecGroupDescription AttributeType = 3
	AttrIPsecEncapsulation    AttributeType = 4
	AttrIPsecAuthAlgorithm    AttributeType = 5
	AttrIPsecKeyLength        AttributeType = 6
	AttrIPsecKeyRounds        AttributeType = 7
)

// Encapsulation modes for AttrIPsecEncapsulation (RFC 2407 §4.5, RFC 3947
// §5 for UDP encapsulation, and the draft values strongSwan also accepts).
const (
	EncapTunnel            uint16 = 1
	EncapTransport         uint16 = 2
	EncapUDPTunnel         uint16 = 3
	EncapUDPTransport      uint16 = 4
	EncapUDPTunnelDraft    uint16 = 61443
	EncapUDPTransportDraft uint16 = 61444
)

// Life types for AttrV1LifeType and AttrIPsecSALifeType (RFC 2409
// Appendix A, RFC 2407 §4.5).
const (
	LifeTypeSeconds   uint16 = 1
	LifeTypeKilobytes uint16 = 2
)

// TransformIDKeyIKE is KEY_IKE, the transform ID of every phase 1
// transform (RFC 2407 §4.4.2).
const TransformIDKeyIKE uint8 = 1

// Phase 1 authentication methods for AttrV1AuthMethod (RFC 2409 Appendix A;
// XAuth values from draft-ietf-ipsec-isakmp-xauth-06).
const (
	IKEv1AuthPreSharedKey uint16 = 1
	IKEv1AuthXAuthInitPSK uint16 = 65001
	IKEv1AuthXAuthRespPSK uint16 = 65002
)

// IKEv1-only identification types (RFC 2407 §4.6.2.1); 1, 2, 3 (USER_FQDN),
// 5, 9, 10 and 11 share IKEv2's numbers.
const (
	IDIPv4AddrSubnet IDType = 4
	IDIPv6AddrSubnet IDType = 6
	IDIPv4AddrRange  IDType = 7
	IDIPv6AddrRange  IDType = 8
)

func init() {
	idTypeNames[IDIPv4AddrSubnet] = "ID_IPV4_ADDR_SUBNET"
	idTypeNames[IDIPv6AddrSubnet] = "ID_IPV6_ADDR_SUBNET"
	idTypeNames[IDIPv4AddrRange] = "ID_IPV4_ADDR_RANGE"
	idTypeNames[IDIPv6AddrRange] = "ID_IPV6_ADDR_RANGE"
	protocolNames[ProtocolIPCOMP] = "IPCOMP"
}

// NotifyTypeV1 is an ISAKMP Notify Message Type (RFC 2408 §3.14.1, RFC
// 2407 §4.6.3, RFC 3706 for DPD).
type NotifyTypeV1 uint16

// IKEv1 notify message types.
const (
	V1InvalidPayloadType      NotifyTypeV1 = 1
	V1DOINotSupported         NotifyTypeV1 = 2
	V1SituationNotSupported   NotifyTypeV1 = 3
	V1InvalidCookie           NotifyTypeV1 = 4
	V1InvalidMajorVersion     NotifyTypeV1 = 5
	V1InvalidMinorVersion     NotifyTypeV1 = 6
	V1InvalidExchangeType     NotifyTypeV1 = 7
	V1InvalidFlags            NotifyTypeV1 = 8
	V1InvalidMessageID        NotifyTypeV1 = 9
	V1InvalidProtocolID       NotifyTypeV1 = 10
	V1InvalidSPI              NotifyTypeV1 = 11
	V1InvalidTransformID      NotifyTypeV1 = 12
	V1AttributesNotSupported  NotifyTypeV1 = 13
	V1NoProposalChosen        NotifyTypeV1 = 14
	V1BadProposalSyntax       NotifyTypeV1 = 15
	V1PayloadMalformed        NotifyTypeV1 = 16
	V1InvalidKeyInformation   NotifyTypeV1 = 17
	V1InvalidIDInformation    NotifyTypeV1 = 18
	V1InvalidCertEncoding     NotifyTypeV1 = 19
	V1InvalidCertificate      NotifyTypeV1 = 20
	V1CertTypeUnsupported     NotifyTypeV1 = 21
	V1InvalidCertAuthority    NotifyTypeV1 = 22
	V1InvalidHashInformation  NotifyTypeV1 = 23
	V1AuthenticationFailed    NotifyTypeV1 = 24
	V1InvalidSignature        NotifyTypeV1 = 25
	V1AddressNotification     NotifyTypeV1 = 26
	V1NotifySALifetime        NotifyTypeV1 = 27
	V1CertificateUnavailable  NotifyTypeV1 = 28
	V1UnsupportedExchangeType NotifyTypeV1 = 29
	V1UnequalPayloadLengths   NotifyTypeV1 = 30
	V1Connected               NotifyTypeV1 = 16384
	V1ResponderLifetime       NotifyTypeV1 = 24576 // RFC 2407 §4.6.3.1
	V1ReplayStatus            NotifyTypeV1 = 24577 // RFC 2407 §4.6.3.2
	V1InitialContact          NotifyTypeV1 = 24578 // RFC 2407 §4.6.3.3
	V1DPDRUThere              NotifyTypeV1 = 36136 // RFC 3706 §5.1
	V1DPDRUThereAck           NotifyTypeV1 = 36137 // RFC 3706 §5.1
)

var notifyV1Names = map[NotifyTypeV1]string{
	V1InvalidPayloadType: "INVALID-PAYLOAD-TYPE", V1DOINotSupported: "DOI-NOT-SUPPORTED",
	V1SituationNotSupported: "SITUATION-NOT-SUPPORTED", V1InvalidCookie: "INVALID-COOKIE",
	V1InvalidMajorVersion: "INVALID-MAJOR-VERSION", V1InvalidMinorVersion: "INVALID-MINOR-VERSION",
	V1InvalidExchangeType: "INVALID-EXCHANGE-TYPE", V1InvalidFlags: "INVALID-FLAGS",
	V1InvalidMessageID: "INVALID-MESSAGE-ID", V1InvalidProtocolID: "INVALID-PROTOCOL-ID",
	V1InvalidSPI: "INVALID-SPI", V1InvalidTransformID: "INVALID-TRANSFORM-ID",
	V1AttributesNotSupported: "ATTRIBUTES-NOT-SUPPORTED", V1NoProposalChosen: "NO-PROPOSAL-CHOSEN",
	V1BadProposalSyntax: "BAD-PROPOSAL-SYNTAX", V1PayloadMalformed: "PAYLOAD-MALFORMED",
	V1InvalidKeyInformation: "INVALID-KEY-INFORMATION", V1InvalidIDInformation: "INVALID-ID-INFORMATION",
	V1InvalidCertEncoding: "INVALID-CERT-ENCODING", V1InvalidCertificate: "INVALID-CERTIFICATE",
	V1CertTypeUnsupported: "CERT-TYPE-UNSUPPORTED", V1InvalidCertAuthority: "INVALID-CERT-AUTHORITY",
	V1InvalidHashInformation: "INVALID-HASH-INFORMATION", V1AuthenticationFailed: "AUTHENTICATION-FAILED",
	V1InvalidSignature: "INVALID-SIGNATURE", V1AddressNotification: "ADDRESS-NOTIFICATION",
	V1NotifySALifetime: "NOTIFY-SA-LIFETIME", V1CertificateUnavailable: "CERTIFICATE-UNAVAILABLE",
	V1UnsupportedExchangeType: "UNSUPPORTED-EXCHANGE-TYPE", V1UnequalPayloadLengths: "UNEQUAL-PAYLOAD-LENGTHS",
	V1Connected: "CONNECTED", V1ResponderLifetime: "RESPONDER-LIFETIME", V1ReplayStatus: "REPLAY-STATUS",
	V1InitialContact: "INITIAL-CONTACT", V1DPDRUThere: "R-U-THERE", V1DPDRUThereAck: "R-U-THERE-ACK",
}

// String returns the RFC mnemonic.
func (n NotifyTypeV1) String() string { return enumString(notifyV1Names, "NOTIFY_V1", n) }

// NotifyErrorV1 is an IKEv1 protocol error found while parsing: the
// notification type an ISAKMP Informational exchange would report (RFC 2408
// §5). Most are better dropped silently when unauthenticated.
type NotifyErrorV1 struct {
	Type NotifyTypeV1 // notification to report
	Data []byte       // notification data, if any
	Msg  string       // what was wrong, for logs
}

// Error implements error.
func (e *NotifyErrorV1) Error() string { return fmt.Sprintf("message: %s: %s", e.Type, e.Msg) }

func malformedV1(format string, args ...any) error {
	return &NotifyErrorV1{Type: V1PayloadMalformed, Msg: fmt.Sprintf(format, args...)}
}

// Vendor IDs strongSwan 5.9.8 sends in IKEv1 Main Mode message 1 (lab
// capture testdata/strongswan_v1_mm1.hex), as strings so they stay constant.
const (
	VendorIDXAuth         = "\x09\x00\x26\x89\xdf\xd6\xb7\x12"                                                 // draft-ietf-ipsec-isakmp-xauth
	VendorIDDPD           = "\xaf\xca\xd7\x13\x68\xa1\xf1\xc9\x6b\x86\x96\xfc\x77\x57\x01\x00"                 // RFC 3706 §7
	VendorIDFragmentation = "\x40\x48\xb7\xd5\x6e\xbc\xe8\x85\x25\xe7\xde\x7f\x00\xd6\xc2\xd3\x80\x00\x00\x00" // IKEv1 fragmentation
	VendorIDNATTRFC3947   = "\x4a\x13\x1c\x81\x07\x03\x58\x45\x5c\x57\x28\xf2\x0e\x95\x45\x2f"                 // RFC 3947 §3.1
	VendorIDNATTDraft02N  = "\x90\xcb\x80\x91\x3e\xbb\x69\x6e\x08\x63\x81\xb5\xec\x42\x7b\x1f"                 // draft-ietf-ipsec-nat-t-ike-02\n
)
