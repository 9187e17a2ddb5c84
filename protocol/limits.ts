/** Protocol versions this implementation speaks, newest last. */
/** Largest msgpack value one frame may carry, unless the broker is configured otherwise. */
export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;

/** Longest topic or pattern, in UTF-8 bytes. */
export const MAX_TOPIC_BYTES = 256;

/** Bytes of the big-endian length prefix in front of every frame. */
export const FRAME_HEADER_BYTES = 4;

/** Longest client name in hello, in UTF-8 bytes: it is shown in every stats answer and log line about the client. */
export const MAX_CLIENT_NAME_BYTES = 256;

/** Most entries in one message's headers. */
export const MAX_HEADER_ENTRIES = 64;

/** Most bytes one message's headers map may take, encoded. */
export const MAX_HEADER_BYTES = 16 * 1024;

/** What the broker may add to a client's frame when it forwards it (a delivery's info and sender, a reply's sender). */
export const BROKER_FRAME_MARGIN_BYTES = 1024;
