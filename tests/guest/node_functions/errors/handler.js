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
    default: return { fine: request };
  }
};
