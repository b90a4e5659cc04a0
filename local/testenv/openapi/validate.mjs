// Validates an OpenAPI document against the OpenAPI 3.1 schema and
// resolves every $ref: node validate.mjs <document>.
import SwaggerParser from "@apidevtools/swagger-parser";

const path = process.argv[2];
try {
  const api = await SwaggerParser.validate(path);
  console.log(`${path}: valid OpenAPI ${api.openapi}`);
} catch (err) {
  console.error(`${path}: ${err.message}`);
  process.exit(1);
}
