/* Entry of every ring-3 test guest (all vCPUs): rdi/rsi/rdx already hold the ABI arguments
 * (runner/ring3/ring3_abi.h). vCPU 0 reports guest_main's return value on the exit port; other
 * vCPUs park in a pause loop until the VMM stops the VM. */
    .section .text.start, "ax"
    .globl _start
_start:
    mov %esi, %ebx              /* keep the vCPU index (callee-saved) */
    call guest_main
    test %ebx, %ebx
    jnz 2f
    mov $0x500, %dx             /* SNAPFAAS_PORT_EXIT */
    out %eax, (%dx)
2:  pause
    jmp 2b
