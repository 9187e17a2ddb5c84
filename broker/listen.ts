import type net from 'node:net';

/** Listens on `path` (or a descriptor), resolving once listening and rejecting with the error that stopped it. */
export function listen(server: net.Server, where: string | { fd: number }): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const onError = (error: Error) => reject(error);
    server.once('error', onError);
    server.listen(where, () => {
      server.off('error', onError);
      resolvePromise();
    });
  });
}
