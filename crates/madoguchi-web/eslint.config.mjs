// ESLint (flat config) for the browser scripts in src/assets and their node tests in
// js-tests. Run from this directory: `../../target/jslint/node_modules/.bin/eslint`
// (.ci/run installs eslint there, so no node_modules lives in the repository).
//
// No imports: the config is read from here while eslint lives under target/, where a
// bare `import '@eslint/js'` would not resolve. So the rules are written out: those of
// eslint's "recommended" set (v9), plus the few below it on purpose.

const recommended = Object.fromEntries([
  'constructor-super', 'for-direction', 'getter-return', 'no-async-promise-executor',
  'no-case-declarations', 'no-class-assign', 'no-compare-neg-zero', 'no-cond-assign',
  'no-const-assign', 'no-constant-binary-expression', 'no-constant-condition', 'no-control-regex',
  'no-debugger', 'no-delete-var', 'no-dupe-args', 'no-dupe-class-members', 'no-dupe-else-if',
  'no-dupe-keys', 'no-duplicate-case', 'no-empty', 'no-empty-character-class', 'no-empty-pattern',
  'no-empty-static-block', 'no-ex-assign', 'no-extra-boolean-cast', 'no-fallthrough',
  'no-func-assign', 'no-global-assign', 'no-import-assign', 'no-invalid-regexp',
  'no-irregular-whitespace', 'no-loss-of-precision', 'no-misleading-character-class',
  'no-new-native-nonconstructor', 'no-nonoctal-decimal-escape', 'no-obj-calls', 'no-octal',
  'no-prototype-builtins', 'no-redeclare', 'no-regex-spaces', 'no-self-assign', 'no-setter-return',
  'no-shadow-restricted-names', 'no-sparse-arrays', 'no-this-before-super', 'no-undef',
  'no-unexpected-multiline', 'no-unreachable', 'no-unsafe-finally', 'no-unsafe-negation',
  'no-unsafe-optional-chaining', 'no-unused-labels', 'no-unused-private-class-members',
  'no-unused-vars', 'no-useless-backreference', 'no-useless-catch', 'no-useless-escape', 'no-with',
  'require-yield', 'use-isnan', 'valid-typeof'
].map((rule) => [rule, 'error']));

const rules = {
  ...recommended,
  // The scripts run in older browsers too: `catch (e)` keeps its (often unused) name.
  'no-unused-vars': ['error', { caughtErrors: 'none' }],
  eqeqeq: ['error', 'smart'],
  'no-implicit-globals': 'error',
  'no-shadow': ['error', { builtinGlobals: false }],
  strict: ['error', 'function']
};

// What the page scripts may use of the browser (anything else is a typo or a global leak).
const browser = Object.fromEntries([
  'window', 'document', 'location', 'history', 'navigator', 'localStorage', 'sessionStorage',
  'fetch', 'WebSocket', 'XMLHttpRequest', 'FormData', 'URL', 'URLSearchParams', 'Blob', 'File',
  'Event', 'CustomEvent', 'Notification', 'CSSStyleSheet', 'crypto', 'setTimeout', 'clearTimeout',
  'setInterval', 'clearInterval', 'requestAnimationFrame', 'AudioContext', 'getComputedStyle',
  'Intl', 'console', 'confirm', 'alert'
].map((name) => [name, 'readonly']));

const node = Object.fromEntries(['process', 'console', 'setTimeout', 'clearTimeout', 'URL']
  .map((name) => [name, 'readonly']));

export default [
  {
    files: ['src/assets/*.js'],
    languageOptions: { ecmaVersion: 2020, sourceType: 'script', globals: browser },
    rules
  },
  {
    // The shared client defines the one name the two chat scripts use.
    files: ['src/assets/chat-client.js'],
    rules: {
      'no-unused-vars': ['error', { caughtErrors: 'none', varsIgnorePattern: '^MadoguchiChat$' }],
      'no-implicit-globals': 'off'
    }
  },
  {
    // Served behind chat-client.js, inside the same function (pages/chat.rs).
    files: ['src/assets/console.js', 'src/assets/widget.js'],
    languageOptions: { globals: { MadoguchiChat: 'readonly' } }
  },
  {
    files: ['js-tests/*.mjs'],
    languageOptions: { ecmaVersion: 2022, sourceType: 'module', globals: node },
    rules: { ...rules, strict: 'off' }
  }
];
