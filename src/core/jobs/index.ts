/** Jobs: execution semantics, job definitions and device requests (pure). */
export * from './execution.js';
export * from './job.js';
export * from './requests.js';
