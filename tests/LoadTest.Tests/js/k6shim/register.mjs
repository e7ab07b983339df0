// Installs the k6 stand-ins: the module loader, and the init-context globals __ENV and open().
import { register } from 'node:module';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

register('./loader.mjs', import.meta.url);

const script = process.argv[2];
globalThis.__ENV = { ...process.env };
// k6 resolves open() against the entry script's folder.
globalThis.open = (path) => readFileSync(resolve(dirname(resolve(script)), path), 'utf8');
globalThis.__k6shim = { checks: [], metrics: {}, requests: [], iteration: 0, warnings: [] };
console.warn = (...args) => globalThis.__k6shim.warnings.push(args.join(' '));
