// Generates src/schema.d.ts from the OpenAPI document with openapi-typescript
// (the version pinned in package-lock.json). The only setting beyond the
// defaults: `format: binary` becomes `Blob` instead of `string`, so a
// multipart upload takes a Blob or File (the transform openapi-typescript
// documents for file uploads).
//
//   node tools/generate.mjs <openapi.json> <output.d.ts>
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import openapiTS, { astToString, COMMENT_HEADER } from "openapi-typescript";
import ts from "typescript";

const [input, output] = process.argv.slice(2);
if (!input || !output) {
  console.error("usage: node tools/generate.mjs <openapi.json> <output.d.ts>");
  process.exit(2);
}

const BLOB = ts.factory.createTypeReferenceNode(ts.factory.createIdentifier("Blob"));
const NULL = ts.factory.createLiteralTypeNode(ts.factory.createNull());

const ast = await openapiTS(pathToFileURL(resolve(input)), {
  transform(schema) {
    if (schema.format === "binary") {
      return schema.nullable ? ts.factory.createUnionTypeNode([BLOB, NULL]) : BLOB;
    }
    return undefined;
  },
});
writeFileSync(output, COMMENT_HEADER + astToString(ast), "utf8");
