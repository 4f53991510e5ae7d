// What oidc-provider 9 and jose 6 expect of node that Debian 12's node 18
// (what `apt-get install nodejs` gives on a fresh machine) lacks: global
// WebCrypto, URL.parse and crypto.hash. Imported first by provider.mjs and
// smoke.mjs; does nothing on node 22 (nor on 20.18 and later).
import { webcrypto } from 'node:crypto';
import * as nodeCrypto from 'node:crypto';
import { register } from 'node:module';

if (globalThis.crypto === undefined) {
  globalThis.crypto = webcrypto;
}

if (typeof URL.parse !== 'function') {
  URL.parse = (url, base) => {
    try {
      return new URL(url, base);
    } catch {
      return null;
    }
  };
}

// node:crypto's exports cannot be added to, so the packages' imports of it
// are pointed at compat-crypto.mjs (node:crypto plus hash).
if (typeof nodeCrypto.hash !== 'function') {
  register('./compat-hooks.mjs', import.meta.url);
}
