// node:crypto with crypto.hash (node >= 20.12), for node 18: see compat.mjs.
import crypto, { createHash } from 'node:crypto';

export * from 'node:crypto';
export default crypto;

export function hash(algorithm, data, outputEncoding = 'hex') {
  const digest = createHash(algorithm).update(data);
  return outputEncoding === 'buffer' ? digest.digest() : digest.digest(outputEncoding);
}
