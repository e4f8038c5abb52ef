// libsodium.js for the pages and the receive worker, built once as /app/sodium.js: the other
// bundles import it from there (an external import), so a browser loads and compiles it once.
export { default } from 'libsodium-wrappers-sumo';
