/* The snapshot-point port ring-3 test guests use (plain C: guests include it). Next to the debug
 * ports of runner/ring3/ring3_abi.h. */
#ifndef SNAPFAAS_RUNNER_SNAPSHOT_ABI_H
#define SNAPFAAS_RUNNER_SNAPSHOT_ABI_H

/* out 4 bytes: "take a snapshot here" (the value is a tag the VMM may log).
 * in 4 bytes: SNAPFAAS_SNAPSHOT_PENDING until the VMM has written it, then
 * SNAPFAAS_SNAPSHOT_TAKEN in the VM that took it and SNAPFAAS_SNAPSHOT_RESTORED in every VM
 * restored from it. A guest spins on the in after its out. */
#define SNAPFAAS_PORT_SNAPSHOT 0x0510u
#define SNAPFAAS_SNAPSHOT_PENDING 0u
#define SNAPFAAS_SNAPSHOT_TAKEN 1u
#define SNAPFAAS_SNAPSHOT_RESTORED 2u

#endif /* SNAPFAAS_RUNNER_SNAPSHOT_ABI_H */
