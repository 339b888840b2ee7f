/* ELF note "SnapFaaS" / SNAPFAAS_RING3_NOTE_TYPE: marks the executable as a ring-3 guest. */
    .section .note.snapfaas, "a"
    .balign 4
    .long 9                     /* n_namesz: "SnapFaaS\0" */
    .long 0                     /* n_descsz */
    .long 0x52333300            /* n_type */
    .asciz "SnapFaaS"
    .balign 4
