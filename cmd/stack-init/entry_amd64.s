#include "textflag.h"

// entry is the process's first instruction (-ldflags=-E=main.entry): the
// Go runtime is never started. It makes FS point just past a word that
// holds &fakeG (a Go function's ABI0 wrapper loads g from -8(FS)), aligns
// the stack and calls start(sp) with the kernel's initial stack pointer.
// start never returns; if it did, the process exits 1.

TEXT ·entry(SB),NOSPLIT|NOFRAME,$0
	MOVQ	SP, R12            // argc, argv, envp from the kernel
	// tlsBlock[63] = &fakeG; FS = &tlsBlock[64]
	LEAQ	·fakeG(SB), AX
	LEAQ	·tlsBlock(SB), BX
	MOVQ	AX, (63*8)(BX)
	LEAQ	(64*8)(BX), SI
	MOVQ	$0x1002, DI        // ARCH_SET_FS
	MOVQ	$158, AX           // arch_prctl
	SYSCALL
	ANDQ	$~15, SP
	SUBQ	$16, SP
	MOVQ	R12, 0(SP)
	CALL	·start(SB)
	MOVQ	$1, DI
	MOVQ	$231, AX
	SYSCALL
	RET
