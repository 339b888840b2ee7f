// errors: the failure paths of the Node.js agent in the e2e tests (tests/guest/e2e_node.sh).
'use strict';

class QuotaError extends Error {
  constructor(message) { super(message); this.name = 'QuotaError'; }
}

module.exports.handle = async (request) => {
  switch (request.kind) {
    case 'throw': throw new RangeError(`bad input ${request.x}`);
    case 'custom': throw new QuotaError('over quota');
    case 'reject':
      await new Promise((resolve) => setTimeout(resolve, 5));
      throw new TypeError('late failure');
    case 'bigint': return { n: 10n };
    case 'big': return 'x'.repeat(request.n);
    // The runtime itself ends (the reaper answers; the VM is then discarded).
    case 'exit': process.exit(request.status);
    case 'kill': process.kill(process.pid, 'SIGKILL');  // not the OOM killer: function_exited, signal 9
    case 'oom': {  // 1 GiB of touched Buffers (outside V8's heap) in a 128 MiB VM: the kernel's OOM killer
      const keep = [];
      for (let i = 0; i < 128; ++i) keep.push(Buffer.alloc(8 << 20, i + 1));
      return keep.length;
    }
    default: return { fine: request };
  }
};
