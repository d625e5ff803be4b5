// Writes the README's ```ts examples, in order, into one module
// (dist/readme/examples.ts) so that tsc type-checks them against the SDK:
// the README cannot show code that does not compile.
//
//   node tools/readme-examples.mjs
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";

const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
const blocks = [...readme.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
if (blocks.length === 0) {
  console.error("README.md has no ```ts examples");
  process.exit(1);
}
const source = blocks
  .join("\n")
  .replaceAll('"./sdk/typescript/dist/src/index.js"', '"../../src/index.js"');
mkdirSync(new URL("../dist/readme/", import.meta.url), { recursive: true });
writeFileSync(new URL("../dist/readme/examples.ts", import.meta.url), `// Generated from README.md.\n${source}`);
console.error(`README.md: ${blocks.length} TypeScript examples`);
