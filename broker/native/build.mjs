// Builds the peer-credentials addon at install time. A failure is reported
// and not fatal: sockbusd then runs without peer credentials (and refuses
// --acl), which is better than no broker at all on an unusual platform.
import { spawnSync } from 'node:child_process';

const result = spawnSync('node-gyp', ['rebuild'], { stdio: 'inherit' });
if (result.status !== 0) {
  const why = result.error ? result.error.message : `node-gyp exited with ${result.status}`;
  process.stderr.write(
    `sockbus: warning: the peer-credentials addon could not be built (${why}).\n` +
      'sockbus: sockbusd will run without peer credentials and refuse to start with --acl.\n',
  );
}
