// RJSF's validator without `eval`: the page's Content-Security-Policy has no 'unsafe-eval', and Ajv compiles each
// schema to a JavaScript function. So RJSF's own AJV8Validator runs (its error processing, titles, error schema)
// over an object that answers Ajv's few calls with @cfworker/json-schema, an interpreting validator for draft
// 2020-12, whose errors are translated into Ajv's shape (instancePath, keyword, params, schemaPath).
import { customizeValidator } from "@rjsf/validator-ajv8";
import { Validator } from "@cfworker/json-schema";

// Keywords that only say "something below failed": their children carry the real problem.
const WRAPPERS = new Set([
  "properties", "patternProperties", "items", "prefixItems", "additionalItems", "allOf", "$ref", "$recursiveRef",
  "dependentSchemas", "dependencies", "contains", "unevaluatedItems", "unevaluatedProperties", "propertyNames",
  "false",
]);
const LIMITS = new Set([
  "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "minItems", "maxItems",
  "minProperties", "maxProperties", "multipleOf",
]);

function decode(part) {
  return decodeURIComponent(part).replace(/~1/g, "/").replace(/~0/g, "~");
}

function at(root, pointer) {
  let node = root;
  for (const part of pointer.replace(/^#\/?/, "").split("/").filter((p) => p !== "")) {
    if (node === null || typeof node !== "object") return undefined;
    node = node[decode(part)];
  }
  return node;
}

function quoted(text) {
  const m = /"([^"]*)"/.exec(text || "");
  return m ? m[1] : "";
}

function toAjvErrors(units, root) {
  const out = [];
  for (const unit of units) {
    if (WRAPPERS.has(unit.keyword)) continue;
    const schemaPath = unit.keywordLocation;
    const value = at(root, schemaPath);
    const parentSchema = at(root, schemaPath.replace(/\/[^/]*$/, ""));
    let params = {};
    if (unit.keyword === "required") params = { missingProperty: quoted(unit.error) };
    else if (unit.keyword === "additionalProperties") params = { additionalProperty: quoted(unit.error) };
    else if (LIMITS.has(unit.keyword)) params = { limit: value };
    else if (unit.keyword === "format") params = { format: value };
    else if (unit.keyword === "type") params = { type: value };
    else if (unit.keyword === "const") params = { allowedValue: value };
    else if (unit.keyword === "enum") params = { allowedValues: value };
    else if (unit.keyword === "pattern") params = { pattern: value };
    out.push({
      instancePath: unit.instanceLocation.replace(/^#/, ""),
      keyword: unit.keyword,
      params,
      schemaPath,
      parentSchema: parentSchema && typeof parentSchema === "object" ? parentSchema : undefined,
      message: unit.error,
    });
  }
  return out;
}

// Ajv's surface as AJV8Validator and createAjvInstance use it.
class InterpretingAjv {
  constructor() {
    this.schemas = new Map();
    this.compiled = new WeakMap();
    this.opts = { code: {} };
  }
  addFormat() {
    return this;
  }
  addKeyword() {
    return this;
  }
  addMetaSchema() {
    return this;
  }
  addSchema(schema, key) {
    this.schemas.set(key, schema);
    return this;
  }
  getSchema(key) {
    const schema = this.schemas.get(key);
    return schema === undefined ? undefined : this.compile(schema);
  }
  removeSchema(key) {
    if (key === undefined) this.schemas.clear();
    else if (typeof key === "string") this.schemas.delete(key);
    return this;
  }
  compile(schema) {
    const known = this.compiled.get(schema);
    if (known) return known;
    const validator = new Validator(schema, "2020-12", false);
    for (const [key, other] of this.schemas) {
      if (other !== schema) validator.addSchema(other, key);
    }
    const fn = (data) => {
      const result = validator.validate(data);
      fn.errors = result.valid ? null : toAjvErrors(result.errors, schema);
      return result.valid;
    };
    fn.schema = schema;
    fn.errors = null;
    this.compiled.set(schema, fn);
    return fn;
  }
}

export function makeValidator() {
  return customizeValidator({ AjvClass: InterpretingAjv, ajvFormatOptions: false });
}
