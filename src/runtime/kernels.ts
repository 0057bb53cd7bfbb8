// The checked kernel wrappers live in kernels/, one file per kernel family; this path stays for importers.
export * from './kernels/index.js';
