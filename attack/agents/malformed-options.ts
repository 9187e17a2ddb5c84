import { emit, runAgent, task } from './agent-io.js';
import { frameOfBody, RawConnection } from './wire.js';

/** Publishes whose options map is deeply nested or holds extension types, each on its own connection. */
function deepMap(depth: number): Buffer {
  // {"a": {"a": ... nil}} built by hand: msgpackr would overflow our own stack first.
  const level = Buffer.from([0x81, 0xa1, 0x61]);
  return Buffer.concat([Buffer.alloc(level.length * depth).fill(level), Buffer.from([0xc0])]);
}

const str = (text: string) => Buffer.concat([Buffer.from([0xa0 | text.length]), Buffer.from(text)]);
/** A fixext 1 of type 5. */
const EXTENSION = Buffer.from([0xd4, 0x05, 0x00]);
const PREFIX = Buffer.concat([Buffer.from([0x95, 0x03]), str('opts.x'), Buffer.from([0x01, 0xc0])]);

const CASES: Record<string, Buffer> = {
  'options nested 100,000 deep': Buffer.concat([PREFIX, deepMap(100_000)]),
  'request id nested 100,000 deep': Buffer.concat([PREFIX, Buffer.from([0x81]), str('request'), deepMap(100_000)]),
  'options an extension type': Buffer.concat([PREFIX, EXTENSION]),
  'request id an extension type': Buffer.concat([PREFIX, Buffer.from([0x81]), str('request'), EXTENSION]),
  'retain an extension type': Buffer.concat([PREFIX, Buffer.from([0x81]), str('retain'), EXTENSION]),
};

runAgent(async () => {
  const { path } = task<{ path: string }>();
  const answers: Record<string, string> = {};
  for (const [name, body] of Object.entries(CASES)) {
    const connection = await RawConnection.open(path, { name: 'malformed-options' });
    connection.sendBytes(frameOfBody(body));
    connection.send([7, 1]);
    const answer = await connection.waitFor((message) => message.kind === 9 || message.kind === 8, 5000);
    answers[name] = answer?.kind === 9 ? answer.code : answer?.kind === 8 ? 'accepted (pong)' : 'no answer';
    connection.destroy();
  }
  emit('result', { answers });
});
