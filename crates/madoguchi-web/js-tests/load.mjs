// Loads the real chat client (src/assets/chat-client.js) the way a browser runs it: as a
// plain script, whose one top-level name is `MadoguchiChat` (see the top of that file).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';

const file = fileURLToPath(new URL('../src/assets/chat-client.js', import.meta.url));
const source = readFileSync(file, 'utf8');

/** The client's namespace, evaluated in this realm (so assert.deepStrictEqual works). */
export const chat = vm.runInThisContext(`${source}\n;MadoguchiChat`, { filename: file });
