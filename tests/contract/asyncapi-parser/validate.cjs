// Validate an AsyncAPI document with the official parser (@asyncapi/parser),
// installed by tests/contract/asyncapi.sh into a cache directory and found
// through NODE_PATH. Prints every diagnostic as a JSON line; exits 1 when the
// parser reports an error (severity 0) or returns no document.
const { Parser } = require("@asyncapi/parser");
const { readFileSync } = require("fs");

async function main() {
  const parser = new Parser();
  const text = readFileSync(process.argv[2], "utf8");
  const { document, diagnostics } = await parser.parse(text);
  for (const d of diagnostics) {
    console.log(JSON.stringify({ code: d.code, severity: d.severity, message: d.message, path: d.path }));
  }
  const errors = diagnostics.filter((d) => d.severity === 0);
  if (!document || errors.length) {
    console.error(`${errors.length} error(s)`);
    process.exit(1);
  }
  console.log(JSON.stringify({ valid: true, channels: document.channels().length, operations: document.operations().length, messages: document.allMessages().length }));
}

main().catch((e) => {
  console.error(e);
  process.exit(2);
});
