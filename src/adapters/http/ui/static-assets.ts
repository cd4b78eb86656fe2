import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export interface StaticAsset {
  body: string;
  contentType: string;
  etag: string;
}

const CONTENT_TYPES: Record<string, string> = {
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  svg: "image/svg+xml",
};

/** Every file the page loads. A fixed list: nothing else in the folder can be fetched. */
export const ASSET_NAMES = [
  "app.css",
  "list.css",
  "call.css",
  "icon.svg",
  "common.js",
  "charts.js",
  "waveform.js",
  "list.js",
  "call.js",
] as const;
export type AssetName = (typeof ASSET_NAMES)[number];

const ASSET_FOLDER = new URL("./assets/", import.meta.url);

/**
 * Reads the assets once, at start. They are plain files served as they are (no build step), so
 * `npm ci && npm start` stays the whole setup; the ETag lets browsers revalidate cheaply.
 */
export function loadAssets(): Map<string, StaticAsset> {
  const assets = new Map<string, StaticAsset>();
  for (const name of ASSET_NAMES) {
    const body = readFileSync(fileURLToPath(new URL(name, ASSET_FOLDER)), "utf8");
    const extension = name.slice(name.lastIndexOf(".") + 1);
    const hash = createHash("sha256").update(body).digest("base64url").slice(0, 16);
    assets.set(name, {
      body,
      contentType: CONTENT_TYPES[extension] ?? "application/octet-stream",
      etag: `"${hash}"`,
    });
  }
  return assets;
}
