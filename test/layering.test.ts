/**
 * The layering of src/ (README "Architecture"): the domain (src/core) imports nothing outside itself,
 * and no module imports itself back through others — counting type-only imports, which tie modules
 * together as much for a reader as runtime ones do.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from './helpers/e2e.js';

const SRC = path.join(REPO, 'src');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = path.join(dir, f);
    return statSync(p).isDirectory() ? files(p) : /\.ts$/.test(f) && !f.endsWith('.generated.ts') ? [p] : [];
  });
}

/** module (relative to src, no extension) → the src modules it imports or re-exports from. */
function graph(): Map<string, string[]> {
  const g = new Map<string, string[]>();
  for (const file of files(SRC)) {
    const id = path.relative(SRC, file).replace(/\.ts$/, '');
    const text = readFileSync(file, 'utf8');
    const deps = new Set<string>();
    for (const m of text.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+'(\.{1,2}\/[^']+)'/gm)) {
      deps.add(path.relative(SRC, path.resolve(path.dirname(file), m[1]!)).replace(/\.js$/, ''));
    }
    g.set(id, [...deps]);
  }
  return g;
}

describe('the import graph of src/', () => {
  const g = graph();

  it('src/core imports only src/core', () => {
    const outside: string[] = [];
    for (const [id, deps] of g) {
      if (!id.startsWith('core/')) continue;
      for (const d of deps) if (!d.startsWith('core/')) outside.push(`${id} → ${d}`);
    }
    expect(outside).toEqual([]);
  });

  it('has no cycle, type-only imports included', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const stack: string[] = [];
    const visit = (id: string): void => {
      state.set(id, 'open');
      stack.push(id);
      for (const d of g.get(id) ?? []) {
        if (!g.has(d)) continue;
        if (state.get(d) === 'open') cycles.push([...stack.slice(stack.indexOf(d)), d].join(' → '));
        else if (!state.has(d)) visit(d);
      }
      stack.pop();
      state.set(id, 'done');
    };
    for (const id of [...g.keys()].sort()) if (!state.has(id)) visit(id);
    expect(cycles).toEqual([]);
  });

  it('sees the imports it judges (a module known to import another)', () => {
    expect(g.get('core/card')).toContain('core/meanings');
    expect(g.get('config/schema')).toContain('core/config');
  });
});
