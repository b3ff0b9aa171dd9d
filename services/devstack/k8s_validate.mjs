// Validates Kubernetes objects against the schemas of the kubernetes-models packages.
// stdin: a JSON array of objects; stdout: a JSON array of messages, empty when all are valid.
// An object of a kind that no package knows is reported too: nothing passes unchecked.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

// The packages' node_modules folder. ES module imports ignore NODE_PATH, so each model is
// imported by its file: <package>/<apiVersion>/<Kind>.js.
const modules = process.env.NODE_PATH;
const PACKAGES = [
  "kubernetes-models",
  "@kubernetes-models/keda",
  "@kubernetes-models/prometheus-operator",
];

async function modelOf(apiVersion, kind) {
  for (const pkg of PACKAGES) {
    const file = path.join(modules, pkg, apiVersion, `${kind}.js`);
    if (!existsSync(file)) continue;
    const model = (await import(pathToFileURL(file).href))[kind];
    if (model) return model;
  }
  return null;
}

const docs = JSON.parse(readFileSync(0, "utf8"));
const errors = [];
for (const doc of docs) {
  const where = `${doc.kind} ${doc.metadata?.name ?? "(no name)"}`;
  const Model = await modelOf(doc.apiVersion, doc.kind);
  if (Model === null) {
    errors.push(`${where}: no schema for ${doc.apiVersion} ${doc.kind}`);
    continue;
  }
  try {
    new Model(doc).validate();
  } catch (error) {
    errors.push(`${where}: ${error.message}`);
  }
}
process.stdout.write(JSON.stringify(errors));
