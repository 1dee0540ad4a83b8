//go:build amd64 && !purego

#include "textflag.h"

// CBC with AES-NI over round keys expanded by aeskey.go. Both functions
// work in place on n >= 1 whole 16-byte blocks and never write iv.

// func cbcEncAES(rounds int, rk *byte, iv *byte, buf *byte, n int)
//
// C_i = E(P_i ⊕ C_{i-1}): serial by construction, so one block at a time,
// and the speed is the latency of the round chain. The rounds are unrolled
// and round keys 0–10 live in X5–X15, so the chain is nothing but PXOR and
// AESENC; the key-size branches are constant per call and always
// predicted. Keys 11–14 (AES-192/256) are read from memory, off the chain.
TEXT ·cbcEncAES(SB), NOSPLIT, $0-40
	MOVQ rounds+0(FP), CX
	MOVQ rk+8(FP), AX
	MOVQ iv+16(FP), DX
	MOVQ buf+24(FP), SI
	MOVQ n+32(FP), BX
	MOVOU (DX), X0          // X0 = C_{i-1}
	MOVOU 0(AX), X5
	MOVOU 16(AX), X6
	MOVOU 32(AX), X7
	MOVOU 48(AX), X8
	MOVOU 64(AX), X9
	MOVOU 80(AX), X10
	MOVOU 96(AX), X11
	MOVOU 112(AX), X12
	MOVOU 128(AX), X13
	MOVOU 144(AX), X14
	MOVOU 160(AX), X15

encBlock:
	MOVOU  (SI), X1
	PXOR   X5, X1           // P_i ⊕ k0 does not wait for C_{i-1}
	PXOR   X1, X0
	AESENC X6, X0
	AESENC X7, X0
	AESENC X8, X0
	AESENC X9, X0
	AESENC X10, X0
	AESENC X11, X0
	AESENC X12, X0
	AESENC X13, X0
	AESENC X14, X0
	CMPQ   CX, $10
	JEQ    encLast128
	AESENC X15, X0
	MOVOU  176(AX), X4
	AESENC X4, X0
	CMPQ   CX, $12
	JEQ    encLast192
	MOVOU      192(AX), X4
	AESENC     X4, X0
	MOVOU      208(AX), X4
	AESENC     X4, X0
	MOVOU      224(AX), X4
	AESENCLAST X4, X0
	JMP        encStore

encLast192:
	MOVOU      192(AX), X4
	AESENCLAST X4, X0
	JMP        encStore

encLast128:
	AESENCLAST X15, X0

encStore:
	MOVOU X0, (SI)
	ADDQ  $16, SI
	DECQ  BX
	JNZ   encBlock
	RET

// func cbcDecAES(rounds int, rk *byte, iv *byte, buf *byte, n int)
//
// P_i = D(C_i) ⊕ C_{i-1}: the eight-block loop runs eight independent
// AESDEC chains interleaved so the AES unit is busy every cycle. All eight
// results are XORed with their predecessor ciphertexts (read from memory)
// before any is stored, which is what makes in-place operation safe; X15
// carries the last ciphertext block to the next group.
TEXT ·cbcDecAES(SB), NOSPLIT, $0-40
	MOVQ rounds+0(FP), CX
	MOVQ rk+8(FP), AX
	MOVQ iv+16(FP), DX
	MOVQ buf+24(FP), SI
	MOVQ n+32(FP), BX
	MOVOU (DX), X15         // X15 = C_{i-1}
	CMPQ BX, $8
	JB   dec1

dec8:
	MOVOU (AX), X8
	MOVOU 0(SI), X0
	MOVOU 16(SI), X1
	MOVOU 32(SI), X2
	MOVOU 48(SI), X3
	MOVOU 64(SI), X4
	MOVOU 80(SI), X5
	MOVOU 96(SI), X6
	MOVOU 112(SI), X7
	PXOR  X8, X0
	PXOR  X8, X1
	PXOR  X8, X2
	PXOR  X8, X3
	PXOR  X8, X4
	PXOR  X8, X5
	PXOR  X8, X6
	PXOR  X8, X7
	LEAQ  16(AX), DI
	MOVQ  CX, R8
	DECQ  R8

dec8Round:
	MOVOU  (DI), X8
	AESDEC X8, X0
	AESDEC X8, X1
	AESDEC X8, X2
	AESDEC X8, X3
	AESDEC X8, X4
	AESDEC X8, X5
	AESDEC X8, X6
	AESDEC X8, X7
	ADDQ   $16, DI
	DECQ   R8
	JNZ    dec8Round

	MOVOU      (DI), X8
	AESDECLAST X8, X0
	AESDECLAST X8, X1
	AESDECLAST X8, X2
	AESDECLAST X8, X3
	AESDECLAST X8, X4
	AESDECLAST X8, X5
	AESDECLAST X8, X6
	AESDECLAST X8, X7

	PXOR  X15, X0
	MOVOU 0(SI), X9
	PXOR  X9, X1
	MOVOU 16(SI), X10
	PXOR  X10, X2
	MOVOU 32(SI), X11
	PXOR  X11, X3
	MOVOU 48(SI), X12
	PXOR  X12, X4
	MOVOU 64(SI), X13
	PXOR  X13, X5
	MOVOU 80(SI), X14
	PXOR  X14, X6
	MOVOU 96(SI), X9
	PXOR  X9, X7
	MOVOU 112(SI), X15

	MOVOU X0, 0(SI)
	MOVOU X1, 16(SI)
	MOVOU X2, 32(SI)
	MOVOU X3, 48(SI)
	MOVOU X4, 64(SI)
	MOVOU X5, 80(SI)
	MOVOU X6, 96(SI)
	MOVOU X7, 112(SI)

	ADDQ $128, SI
	SUBQ $8, BX
	CMPQ BX, $8
	JAE  dec8

dec1:
	TESTQ BX, BX
	JZ    decDone

dec1Block:
	MOVOU (SI), X0
	MOVOU X0, X1
	MOVOU (AX), X8
	PXOR  X8, X0
	LEAQ  16(AX), DI
	MOVQ  CX, R8
	DECQ  R8

dec1Round:
	MOVOU  (DI), X8
	AESDEC X8, X0
	ADDQ   $16, DI
	DECQ   R8
	JNZ    dec1Round

	MOVOU      (DI), X8
	AESDECLAST X8, X0
	PXOR       X15, X0
	MOVOU      X0, (SI)
	MOVOU      X1, X15
	ADDQ       $16, SI
	DECQ       BX
	JNZ        dec1Block

decDone:
	RET
