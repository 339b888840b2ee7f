// hello-js: the smallest JavaScript function; ignores the request (the Node twin of hello).
'use strict';

module.exports.handle = () => ({ body: 'hello, world!' });
