/**
 * Enforces the dependency rules of docs/architecture.md on the source tree: which module
 * may import which, which packages the pure core may use, and no import cycle between
 * files. The imports are read with the TypeScript compiler's own parser (static
 * `import`/`export ... from`, `import type`, and `import('...')` with a literal
 * argument), so the test sees exactly what the compiler sees.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SRC = join(ROOT, 'src');

/**
 * The modules of src/ and the modules each may import (besides itself). A module is a
 * top-level folder of src/ or a top-level file without its extension. The order follows
 * the arrow cli -> gateway -> (broker, api) -> (identity, ca) -> core; `runtime`
 * (configuration reloads) and `observability` (logger, metrics) are support layers
 * below the broker and the API, `data-dir` and `config-file` are small helpers on top of `core`.
 */
const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  core: [],
  'data-dir': ['core'],
  'config-file': ['core'],
  observability: ['core'],
  runtime: ['core', 'observability'],
  ca: ['core', 'data-dir'],
  identity: ['core', 'ca', 'data-dir'],
  broker: ['core', 'observability', 'runtime'],
  api: ['core', 'identity', 'ca', 'observability', 'runtime'],
  sync: ['core', 'identity', 'observability', 'data-dir'],
  console: ['core', 'identity', 'observability', 'api'],
  gateway: ['core', 'identity', 'ca', 'broker', 'api', 'observability', 'runtime', 'data-dir', 'config-file', 'sync', 'console'],
  cli: ['core', 'identity', 'ca', 'broker', 'api', 'observability', 'runtime', 'data-dir', 'config-file', 'gateway', 'sync', 'console'],
  index: ['core', 'config-file'],
};

/** The only packages the pure core may import: its YAML parser. No `node:` module. */
const CORE_PACKAGES: readonly string[] = ['yaml'];

interface Import {
  readonly from: string; // path relative to the repository root
  readonly specifier: string;
  readonly line: number;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir)
    .flatMap((name) => {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) return sourceFiles(p);
      return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [p] : [];
    })
    .sort();
}

/** Every module specifier of the file: static imports, re-exports and literal dynamic imports. */
function importsOf(file: string, text: string): Import[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const from = relative(ROOT, file);
  const found: Import[] = [];
  const add = (node: ts.Node, specifier: ts.Expression | undefined): void => {
    if (specifier === undefined || !ts.isStringLiteralLike(specifier)) return;
    const line = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
    found.push({ from, specifier: specifier.text, line });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) add(node, node.moduleSpecifier);
    else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      add(node, node.moduleReference.expression);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      add(node, node.arguments[0]);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      add(node, node.argument.literal);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

/** The module (see ALLOWED) a file under src/ belongs to. */
function moduleOf(file: string): string {
  const parts = relative(SRC, file).split(/[\\/]/);
  return parts.length === 1 ? parts[0]!.replace(/\.[cm]?[jt]s$/, '') : parts[0]!;
}

/** The .ts file a relative specifier names (the sources import `./x.js`). */
function targetFile(from: string, specifier: string): string {
  return resolve(dirname(join(ROOT, from)), specifier).replace(/\.js$/, '.ts');
}

function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/** The rule violations among the imports, one line each. */
function violations(imports: readonly Import[]): string[] {
  const out: string[] = [];
  for (const imp of imports) {
    const fromModule = moduleOf(join(ROOT, imp.from));
    const where = `${imp.from}:${imp.line} imports '${imp.specifier}'`;
    const allowed = ALLOWED[fromModule];
    if (allowed === undefined) {
      out.push(`${imp.from}: module '${fromModule}' has no entry in the dependency rules (add it to docs/architecture.md and this test)`);
      continue;
    }
    if (!imp.specifier.startsWith('.')) {
      if (fromModule === 'core' && !CORE_PACKAGES.includes(packageName(imp.specifier))) {
        out.push(`${where}: the core may import only ${CORE_PACKAGES.join(', ')}`);
      }
      continue;
    }
    const target = targetFile(imp.from, imp.specifier);
    if (!target.startsWith(SRC + '/')) {
      out.push(`${where}: source files may not import outside src/`);
      continue;
    }
    const toModule = moduleOf(target);
    if (toModule !== fromModule && !allowed.includes(toModule)) {
      out.push(`${where}: '${fromModule}' may not depend on '${toModule}'`);
    }
  }
  return out;
}

/** The import cycles between files (strongly connected components of more than one file, or a file importing itself). */
function cycles(imports: readonly Import[]): string[][] {
  const graph = new Map<string, Set<string>>();
  for (const imp of imports) {
    if (!imp.specifier.startsWith('.')) continue;
    const to = relative(ROOT, targetFile(imp.from, imp.specifier));
    if (!graph.has(imp.from)) graph.set(imp.from, new Set());
    graph.get(imp.from)!.add(to);
  }
  // Tarjan's algorithm (recursive: the depth is the longest import chain, a few dozen files).
  let index = 0;
  const indices = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const connect = (v: string): void => {
    indices.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!indices.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, indices.get(w)!));
      }
    }
    if (low.get(v) === indices.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || graph.get(v)?.has(v)) found.push(component.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!indices.has(v)) connect(v);
  return found;
}

const allImports = sourceFiles(SRC).flatMap((f) => importsOf(f, readFileSync(f, 'utf8')));

test('the import reader sees static, re-exported, type-only and dynamic imports', () => {
  const text = [
    "import a from './a.js';",
    "import type { B } from '../b.js';",
    "export { c } from './c.js';",
    "export * from './d.js';",
    "const e = await import('./e.js');",
    "type F = import('./f.js').F;",
    "const s = 'import x from \"./not-an-import.js\"';",
  ].join('\n');
  const specifiers = importsOf(join(SRC, 'core', 'x.ts'), text).map((i) => i.specifier);
  assert.deepEqual(specifiers, ['./a.js', '../b.js', './c.js', './d.js', './e.js', './f.js']);
});

test('the rules catch a forbidden import, a core package import and a cycle', () => {
  const imp = (from: string, specifier: string): Import => ({ from, specifier, line: 1 });
  assert.equal(violations([imp('src/broker/x.ts', '../identity/sessions.js')]).length, 1);
  assert.equal(violations([imp('src/broker/x.ts', '../api/server.js')]).length, 1);
  assert.equal(violations([imp('src/core/x.ts', 'node:fs')]).length, 1);
  assert.equal(violations([imp('src/core/x.ts', '../identity/names.js')]).length, 1);
  assert.deepEqual(violations([imp('src/core/x.ts', 'yaml'), imp('src/api/x.ts', '../identity/y.js')]), []);
  assert.deepEqual(cycles([imp('src/a/x.ts', './y.js'), imp('src/a/y.ts', './z.js'), imp('src/a/z.ts', './x.js')]), [
    ['src/a/x.ts', 'src/a/y.ts', 'src/a/z.ts'],
  ]);
  assert.deepEqual(cycles([imp('src/a/x.ts', './y.js'), imp('src/a/y.ts', './z.js')]), []);
});

test('every import in src/ follows the dependency rules of docs/architecture.md', () => {
  assert.ok(allImports.length > 100, 'the reader found the imports');
  assert.deepEqual(violations(allImports), []);
});

test('no import cycle between files in src/', () => {
  assert.deepEqual(cycles(allImports), []);
});

test('docs/architecture.md lists every module of the dependency rules', () => {
  const doc = readFileSync(join(ROOT, 'docs', 'architecture.md'), 'utf8');
  const modules = new Set(sourceFiles(SRC).map(moduleOf));
  for (const m of modules) {
    assert.ok(m in ALLOWED, `module '${m}' has no entry in the dependency rules`);
    assert.ok(doc.includes(`\`${m}\``), `docs/architecture.md does not mention \`${m}\``);
  }
});
