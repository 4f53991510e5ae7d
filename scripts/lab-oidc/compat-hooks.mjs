// Module hooks registered by compat.mjs on a node without crypto.hash (18):
// node:crypto imported from node_modules resolves to compat-crypto.mjs.
const shim = new URL('./compat-crypto.mjs', import.meta.url).href;

export async function resolve(specifier, context, next) {
  if ((specifier === 'node:crypto' || specifier === 'crypto') && context.parentURL?.includes('/node_modules/')) {
    return { url: shim, shortCircuit: true };
  }
  return next(specifier, context);
}
