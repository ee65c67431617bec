/**
 * Gatehouse's library API: load and validate a configuration, compile it into a
 * policy snapshot, decide and explain. The broker and the local API use exactly this.
 */
export * from './core/index.js';
export { loadConfigFile, type ConfigFileResult } from './config-file.js';
