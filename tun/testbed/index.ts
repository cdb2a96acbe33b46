/**
 * tun/testbed: a cluster of the manifests in network namespaces on one machine (see testbed.ts), and its
 * segment capture (capture.ts).
 */
export * from './testbed.js';
export { captureHere, CaptureError, type CaptureOptions } from './capture.js';
