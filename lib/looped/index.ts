/**
 * lemma.looped: looped networks. Fixed points of x ← g(Wx + b) with interval certificates
 * (iterate, stabilisation, certifyBox, enumerateFixedPoints, preset), and a looped ReLU-MLP that
 * executes SUBLEQ programs (`lemma.looped.subleq`).
 */
export { iterate, stabilisation, MAX_HISTORY } from './iterate.js';
export type { IterateOptions, IterateResult, IterateProgress, Stabilisation } from './iterate.js';
export { certifyBox, certifyBoxSync, enumerateFixedPoints, preset, stepsToReach } from './certify.js';
export type { Certificate, CertificateFailure, CertifyOptions, EnumerateOptions, EnumerateResult, EnumerateProgress, Preset } from './certify.js';
export { ACTIVATIONS } from './activations.js';
export type { Activation, ActivationName, CustomActivation } from './activations.js';
export * as subleq from './subleq/index.js';
