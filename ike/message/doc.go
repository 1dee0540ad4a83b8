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
// Data aliasing the input and AAD = the bytes from the IKE header to the end of
// the SK payload header; after verification and decryption,
// ParsePayloads(sk.NextPayload, plaintext) yields the inner chain.
package message
