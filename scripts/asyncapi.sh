#!/usr/bin/env bash
# The AsyncAPI parser (@asyncapi/parser, the reference JavaScript implementation) that the
# event catalog's test (docs/events, internal/catalog) validates docs/events/asyncapi.yaml
# with, installed by npm into a directory of its own under the state dir.
# Usage: asyncapi.sh ensure|path
#   ensure  install the pinned version if missing (idempotent), print the path of the
#           validate script (run it with node: node PATH FILE)
#   path    print that path, exit 1 if it is not installed
# The test finds it through SHOPFLOW_ASYNCAPI_VALIDATE (stack.sh run exports it).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

VERSION="3.6.3"
DIR="$SHOPFLOW_STATE_DIR/tools/asyncapi-parser-$VERSION"
SCRIPT="$DIR/validate.mjs"

installed() {
  [[ -f "$SCRIPT" && -f "$DIR/node_modules/@asyncapi/parser/package.json" ]] &&
    grep -q "\"version\": \"$VERSION\"" "$DIR/node_modules/@asyncapi/parser/package.json"
}

write_script() {
  cat >"$SCRIPT" <<'JS'
// validate.mjs FILE: parses FILE with @asyncapi/parser and prints every diagnostic;
// exits 1 when the document has errors (severity 0), 0 otherwise.
import { readFile } from 'node:fs/promises';
import { Parser, fromFile } from '@asyncapi/parser';

const file = process.argv[2];
if (!file) { console.error('usage: node validate.mjs FILE'); process.exit(2); }
const parser = new Parser();
const { document, diagnostics } = await fromFile(parser, file).parse();
let errors = 0;
for (const d of diagnostics) {
  const severity = ['error', 'warning', 'info', 'hint'][d.severity] ?? d.severity;
  if (d.severity === 0) errors++;
  console.log(`${severity} ${d.code} ${d.path.join('.')}: ${d.message}`);
}
if (errors > 0 || !document) { console.log(`${file}: ${errors} error(s)`); process.exit(1); }
console.log(`${file}: valid AsyncAPI ${document.version()}, ${document.channels().length} channels, ${document.messages().length} messages`);
JS
}

case "${1:-}" in
  ensure)
    if ! installed; then
      command -v npm >/dev/null || apt_install nodejs npm
      rm -rf "$DIR" && mkdir -p "$DIR"
      printf '{"name":"shopflow-asyncapi-validate","private":true,"type":"module"}\n' >"$DIR/package.json"
      npm install --prefix "$DIR" --no-audit --no-fund --silent "@asyncapi/parser@$VERSION" >&2
      write_script
      installed || die "@asyncapi/parser $VERSION did not install into $DIR"
    fi
    echo "$SCRIPT"
    ;;
  path) installed && echo "$SCRIPT" ;;
  *) echo "usage: $0 ensure|path" >&2; exit 2 ;;
esac
