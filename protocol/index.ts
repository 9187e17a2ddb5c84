export * from './errors.js';
export * from './limits.js';
export * from './frame.js';
export * from './messages.js';
export * from './topics.js';
export * from './topic-trie.js';
export * from './socket-path.js';
export * from './version.js';
