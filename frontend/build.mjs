// Bundles every file in src/entries/ into ../api/static/dist/<name>.js (and <name>.css when the entry imports CSS).
// The product serves these files itself; nothing is fetched from a CDN at run time.
import { build } from "esbuild";
import { readdirSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, parse } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const entriesDir = join(here, "src", "entries");
const outdir = join(here, "..", "api", "static", "dist");
const entryPoints = Object.fromEntries(
  readdirSync(entriesDir)
    .filter((f) => /\.(js|jsx|mjs)$/.test(f))
    .map((f) => [parse(f).name, join(entriesDir, f)]),
);

mkdirSync(outdir, { recursive: true });
const result = await build({
  entryPoints,
  outdir,
  bundle: true,
  minify: process.env.TDKT_FRONTEND_DEBUG ? false : true,
  sourcemap: false,
  format: "iife",
  target: ["es2020"],
  jsx: "automatic",
  loader: { ".woff": "file", ".woff2": "file", ".ttf": "file", ".eot": "file", ".svg": "file" },
  assetNames: "assets/[name]-[hash]",
  define: { "process.env.NODE_ENV": '"production"' },
  metafile: true,
  logLevel: "warning",
  legalComments: "linked",
});
// The list of what was built, for the server to check that the bundle exists and is current.
writeFileSync(join(outdir, "manifest.json"), JSON.stringify(Object.keys(result.metafile.outputs).map((p) => p.split("/dist/")[1]).sort(), null, 2));
console.log(`built ${Object.keys(entryPoints).length} entries into ${outdir}`);
