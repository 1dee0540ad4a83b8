// Package message is the IKE codec: it turns wire bytes into typed Go values
// and back, and nothing else. It opens no sockets, keeps no SA state, logs
// nothing and does no cryptography.
//
// The layout follows RFC 7296 §3: a fixed 28-byte header (Header) followed by
// a chain of payloads, each introduced by a 4-byte generic payload header whose
// Next Payload field names the type of the payload after it. ParseMessage
// reads the header and the cleartext chain; an Encrypted (SK, RFC 7296 §3.14)
// or EncryptedFragment (SKF, RFC 7383 §2.5) payload is returned with its raw
// IV‖ciphertext‖ICV bytes so that the state machine can verify and decrypt it
// with ike/ikecrypto and then hand the plaintext to ParsePayloads.
//
// Every semantic length the RFCs fix (nonce 16–256 bytes, KE data matching the
// Diffie-Hellman group, SPI sizes, traffic selector address lengths, substructure
// counts) is enforced here, so handlers never index raw bytes. Malformed input
// yields a *NotifyError carrying the notification the peer should receive
// (normally INVALID_SYNTAX, or UNSUPPORTED_CRITICAL_PAYLOAD with the payload
// type as data, or INVALID_MAJOR_VERSION).
//
// Sending an encrypted message (RFC 7296 §3.14):
//
//	first, plain, err := message.MarshalPayloads(inner)
//	n := sealedLen(len(plain))                  // IV + padded ciphertext + ICV
//	m.Payloads = []message.Payload{&message.Encrypted{NextPayload: first, Data: make([]byte, n)}}
//	b, err := m.Marshal()                       // header length already final
//	body := b[len(b)-n:]                        // fill IV‖ciphertext‖ICV in place;
//	                                            // AEAD AAD = b[:len(b)-n],
//	                                            // ICV covers b[:len(b)-icvLen]
//
// Message.MarshalSealed and Message.MarshalFragments wrap exactly this.
//
// Receiving: ParseMessage returns the *Encrypted as the last payload, with
// Data aliasing Message.Raw (a copy of the input) and AAD = the bytes from the
// IKE header to the end of the SK payload header; after verification and
// decryption, ParsePayloads(sk.NextPayload, plaintext) yields the inner chain.
//
// Fragmented messages (RFC 7383): Message.MarshalFragments cuts the inner
// chain over SKF messages no longer than a given size, each sealed on its
// own; on receipt each *EncryptedFragment is verified and decrypted like SK
// (AAD then also covers Fragment Number and Total Fragments) and its
// plaintext handed to a Reassembly, which applies the §2.6 rules.
//
// IKEv1 (RFC 2408/2409, IPsec DOI RFC 2407) shares the header and the
// Payload interface: ParseMessageV1 returns either the cleartext chain or,
// with the E flag, the raw ciphertext (IKEv1 encrypts everything after the
// header), to be decrypted by the phase 1/2 state machine and parsed with
// ParsePayloadsV1, which tolerates the CBC padding. Errors are then
// *NotifyErrorV1. FragmentMessageV1 and ReassemblyV1 implement the IKEv1
// fragmentation strongSwan announces with VendorIDFragmentation.
package message
