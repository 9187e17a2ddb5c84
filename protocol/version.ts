/** The release of this package; a test keeps it equal to package.json's. */
export const VERSION = '0.2.0';

/** The protocol version this broker and its clients speak (PROTOCOL.md); there is no other. */
export const PROTOCOL_VERSION = 2;
