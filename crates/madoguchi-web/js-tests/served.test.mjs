// The two chat scripts as the server serves them (assets.rs: the chat client in front,
// both inside one function) and the widget's words (chat/widget.rs, the catalog).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import vm from 'node:vm';

const read = (path) => readFileSync(new URL(path, import.meta.url), 'utf8');
const client = read('../src/assets/chat-client.js');
const widget = read('../src/assets/widget.js');
const consoleJs = read('../src/assets/console.js');

test('the served scripts parse, and the client adds no name to the page', () => {
  for (const [name, body] of [['widget.js', widget], ['console.js', consoleJs]]) {
    const served = `(function () {\n${client}\n${body}\n})();\n`;
    assert.doesNotThrow(() => new vm.Script(served, { filename: name }), name);
  }
  const global = vm.createContext({});
  vm.runInContext(`(function () {\n${client}\n})();`, global);
  assert.equal(vm.runInContext('typeof MadoguchiChat', global), 'undefined');
  assert.equal(widget.split("'/*madoguchi:widget-labels*/'").length, 2, 'one place for the words');
  assert.equal(widget.split("'/*madoguchi:widget.css*/'").length, 2, 'one place for the styles');
});

/** The quoted strings of a Rust `const NAME: … = &[ … ];`. */
function rustList(source, name) {
  const start = source.indexOf(`const ${name}:`);
  assert.ok(start >= 0, name);
  const body = source.slice(start, source.indexOf('];', start));
  return [...body.matchAll(/\(?"([a-z-]+)"/g)].map((m) => m[1]);
}

test('every word the widget uses is served, in both languages', () => {
  const rs = read('../src/chat/widget.rs');
  const labels = rustList(rs, 'SCRIPT_LABELS');
  const templates = rustList(rs, 'SCRIPT_TEMPLATES').filter((_, i) => i % 2 === 0);
  const served = new Set([...labels, ...templates]);
  const used = new Set([
    ...[...widget.matchAll(/\bT\.([a-z]+)\b/g)].map((m) => m[1]),
    ...[...widget.matchAll(/\bT\['([a-z-]+)'\]/g)].map((m) => m[1]),
    // setTick reads T[status].
    'pending', 'stored', 'failed'
  ]);
  for (const key of used) assert.ok(served.has(key), `widget.js uses T['${key}'], which is not served`);
  for (const key of served) assert.ok(used.has(key), `'${key}' is served but widget.js does not use it`);
  for (const lang of ['ja', 'en']) {
    const ftl = read(`../../madoguchi-core/locales/${lang}/chat-ui.ftl`);
    for (const key of served) {
      assert.match(ftl, new RegExp(`^chatui-widget-${key} = \\S`, 'm'), `${lang}: chatui-widget-${key}`);
    }
  }
});
