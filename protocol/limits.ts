/** Protocol versions this implementation speaks, newest last. */
export const PROTOCOL_VERSIONS: readonly number[] = [1];
export const PROTOCOL_VERSION = 1;

/** Largest msgpack value one frame may carry, unless the broker is configured otherwise. */
export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;

/** Longest topic or pattern, in UTF-8 bytes. */
export const MAX_TOPIC_BYTES = 256;

/** Bytes of the big-endian length prefix in front of every frame. */
export const FRAME_HEADER_BYTES = 4;
